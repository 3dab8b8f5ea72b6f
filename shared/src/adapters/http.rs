//! The webhook sender: one POST over HTTPS to a public address.
//!
//! The guard against server-side request forgery: the host is resolved first, and
//! every address it resolves to must be public (no loopback, private, link-local, the
//! metadata service's, shared, documentation, multicast or unspecified range, in IPv4
//! or IPv6, an IPv4 address inside IPv6 included); the request then goes to the checked
//! address, so a second lookup cannot swap it. No redirect is followed; the whole
//! request has 10 s. The local server's sender also allows `http` to `127.0.0.1` and
//! `localhost`, so a developer can receive on the same machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{MAX_KEPT_BYTES, WebhookAnswer, WebhookSendError, WebhookSender};

/// The time a request has, from connecting to the end of the part of its answer kept.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer's body is kept.
pub const KEPT_BYTES: usize = 1024;

pub struct HttpSender {
    /// The local server's: `http` to the loopback address is allowed.
    loopback: bool,
}

impl HttpSender {
    /// AWS: https to public addresses only.
    pub fn public_only() -> Self {
        Self { loopback: false }
    }
    /// The local server: also `http://127.0.0.1` and `http://localhost`.
    pub fn allowing_loopback() -> Self {
        Self { loopback: true }
    }
}

/// Is this an address a webhook may go to?
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 (64:ff9b::/96 and 64:ff9b:1::/48)
                || s[0] == 0x2002 // 6to4, an IPv4 inside
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)) // IPv4-compatible
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local() // 169.254/16, the metadata service's included
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // shared (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking
        || o[0] >= 240) // reserved
}

fn refused(why: impl Into<String>) -> WebhookSendError {
    WebhookSendError::Refused(why.into())
}

impl HttpSender {
    /// The checked address to send to, or why not.
    async fn target(&self, url: &url::Url) -> Result<(String, SocketAddr), WebhookSendError> {
        let host = url
            .host_str()
            .ok_or_else(|| refused("the URL has no host"))?
            .to_owned();
        let loopback_host = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]");
        match url.scheme() {
            "https" => {}
            "http" if self.loopback && loopback_host => {}
            _ => return Err(refused("only https URLs are reached")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("the URL may not carry credentials"));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| refused("the URL has no port"))?;
        let lookup = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((lookup.as_str(), port))
            .await
            .map_err(|e| refused(format!("{host} does not resolve ({e})")))?
            .collect();
        let Some(first) = addrs.first().copied() else {
            return Err(refused(format!("{host} resolves to no address")));
        };
        for a in &addrs {
            let allowed =
                is_public(a.ip()) || (self.loopback && loopback_host && a.ip().is_loopback());
            if !allowed {
                return Err(refused(format!(
                    "{host} resolves to an address that is not a public address"
                )));
            }
        }
        Ok((host, first))
    }
}

#[async_trait]
impl WebhookSender for HttpSender {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<WebhookAnswer, WebhookSendError> {
        let mut all = vec![("content-type", "application/json".to_owned())];
        all.extend(headers.iter().map(|(k, v)| (*k, v.clone())));
        self.timed(reqwest::Method::POST, url, &all, Some(body), KEPT_BYTES)
            .await
    }

    async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        keep: usize,
    ) -> Result<WebhookAnswer, WebhookSendError> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| refused(format!("{method} is not an HTTP method")))?;
        let keep = keep.min(MAX_KEPT_BYTES);
        self.timed(method, url, headers, body, keep).await
    }
}

impl HttpSender {
    async fn timed(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        keep: usize,
    ) -> Result<WebhookAnswer, WebhookSendError> {
        // The whole of it, the lookup included, within the time limit.
        match tokio::time::timeout(TIMEOUT, self.send(method, url, headers, body, keep)).await {
            Ok(result) => result,
            Err(_) => Err(WebhookSendError::Failed(format!(
                "no answer within {} s",
                TIMEOUT.as_secs()
            ))),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        keep: usize,
    ) -> Result<WebhookAnswer, WebhookSendError> {
        let parsed = url::Url::parse(url).map_err(|e| refused(format!("not a URL ({e})")))?;
        let (host, addr) = self.target(&parsed).await?;
        // The request goes to the address just checked, whatever a new lookup says.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // No proxy from the environment: it would resolve the host again.
            .no_proxy()
            .timeout(TIMEOUT)
            .resolve(host.trim_start_matches('[').trim_end_matches(']'), addr)
            .user_agent("Tenantry-Webhooks/1")
            .build()
            .map_err(|e| WebhookSendError::Failed(format!("building the client: {e}")))?;
        let mut req = client.request(method, parsed);
        if let Some(body) = body {
            req = req.body(body.to_vec());
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| WebhookSendError::Failed(describe(&e)))?;
        let status = resp.status().as_u16();
        let mut kept = Vec::with_capacity(keep);
        while kept.len() < keep {
            match resp.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        kept.truncate(keep);
        Ok(WebhookAnswer {
            status,
            body: String::from_utf8_lossy(&kept).into_owned(),
        })
    }
}

/// A transport error in a line, without the URL's query (it may hold a token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else if e.is_connect() {
        "the connection failed".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_allowed() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::",
            "fd00:ec2::254",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378::1",
            "fec0::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as not public");
        }
    }

    #[tokio::test]
    async fn the_public_sender_refuses_http_loopback_and_private_hosts() {
        let public = HttpSender::public_only();
        for url in [
            "http://example.com/hook",
            "https://127.0.0.1/hook",
            "https://localhost/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://user:pw@example.com/hook",
            "ftp://example.com/",
        ] {
            let e = public.post(url, &[], b"{}").await.unwrap_err();
            assert!(matches!(e, WebhookSendError::Refused(_)), "{url}: {e}");
        }
        // The local sender: http to the loopback host only.
        let local = HttpSender::allowing_loopback();
        let e = local
            .post("http://10.0.0.1/hook", &[], b"{}")
            .await
            .unwrap_err();
        assert!(matches!(e, WebhookSendError::Refused(_)), "{e}");
    }
}
