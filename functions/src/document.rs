//! An invoice's document: a PDF (krilla, with the DejaVu Sans fonts bundled here) and an
//! HTML view, both from one layout of text lines. Only `documents-render` calls `pdf`
//! (`render`), so only it links the PDF writer and the fonts; the document route renders
//! the HTML view and serves the PDFs that function stored.

use std::sync::{Arc, LazyLock};

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, TextDirection};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};
use tenantry::model::invoice::{CreditNote, InvoiceStatus, InvoiceView, Issuer, Payer};
use tenantry::model::tenant::Tenant;

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// Who issued the document, as printed on it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IssuerBlock {
    pub name: String,
    pub address: Vec<String>,
    pub tax_id: Option<String>,
    /// The brand colour (`#rrggbb`) of the header rule.
    pub color: String,
    pub payment_instructions: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn address_lines(a: Option<&tenantry::model::fields::Address>) -> Vec<String> {
    let Some(a) = a else { return Vec::new() };
    let mut out = vec![a.line1.clone()];
    out.extend(a.line2.clone());
    let city: Vec<String> = [a.postal_code.clone(), a.city.clone(), a.state.clone()]
        .into_iter()
        .flatten()
        .collect();
    if !city.is_empty() {
        out.push(city.join(" "));
    }
    out
}

/// The issuer: the platform (its settings from the environment) for a partner's invoice,
/// the reseller (its billing details and brand) for its customers'.
pub fn issuer(view: &InvoiceView, tenant: &Tenant) -> IssuerBlock {
    let (name, payment_instructions) =
        tenantry::model::invoice::issuer_name_and_instructions(&view.issuer, tenant);
    match &view.issuer {
        Issuer::Platform => IssuerBlock {
            name,
            address: env_or("TENANTRY_PLATFORM_ADDRESS", "")
                .split(';')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            tax_id: std::env::var("TENANTRY_PLATFORM_TAX_ID").ok(),
            color: "#1f2937".into(),
            payment_instructions,
        },
        Issuer::Tenant { .. } => {
            let b = tenant.billing.as_ref();
            IssuerBlock {
                name,
                address: address_lines(b.and_then(|b| b.address.as_ref())),
                tax_id: b.and_then(|b| b.tax_id.clone()),
                color: tenant.branding.as_ref().map_or_else(
                    || tenantry::model::branding::Branding::default_for(&tenant.name).primary_color,
                    |b| b.primary_color.clone(),
                ),
                payment_instructions,
            }
        }
    }
}

/// `€1,234.56`: see `tenantry::model::invoice::money`.
pub use tenantry::model::invoice::money;

/// One row of the document's lines table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub description: String,
    pub quantity: String,
    pub unit: String,
    pub amount: String,
    /// A customer's heading or subtotal row (bold).
    pub strong: bool,
}

/// What the document shows, in order: the same for the PDF and the HTML.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Layout {
    pub title: String,
    pub issuer: IssuerBlock,
    pub payer: Vec<String>,
    pub facts: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub totals: Vec<(String, String)>,
    pub draft: bool,
}

fn payer_lines(p: &Payer) -> Vec<String> {
    let mut out = vec![p.name.clone()];
    out.extend(address_lines(p.address.as_ref()));
    out.extend(p.email.clone());
    out.extend(p.tax_id.as_ref().map(|t| format!("Tax id: {t}")));
    out
}

fn line_row(l: &tenantry::model::invoice::InvoiceLine, currency: &str) -> Row {
    Row {
        description: l.description.clone(),
        quantity: l.quantity.to_string(),
        unit: l
            .unit_amount
            .map(|u| money(u, currency))
            .unwrap_or_default(),
        amount: money(l.amount, currency),
        strong: false,
    }
}

pub fn layout(view: &InvoiceView, issuer: IssuerBlock) -> Layout {
    let c = view.currency.as_str();
    let draft = view.status == InvoiceStatus::Draft;
    let title = match &view.number {
        Some(n) => format!("Invoice {n}"),
        None => "Invoice (draft)".to_owned(),
    };
    let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "—".to_owned(), |t| t.format("%-d %B %Y").to_string())
    };
    let mut facts = vec![
        ("Period".to_owned(), view.period.clone()),
        ("Issued".to_owned(), day(view.finalized_at)),
        ("Due".to_owned(), day(view.due_at)),
    ];
    if let Some(name) = &view.customer_name {
        facts.push(("Customer".to_owned(), name.clone()));
    }
    let mut rows = Vec::new();
    let grouped = view.customers.len() > 1 || view.customer_id.is_none();
    for g in &view.customers {
        if grouped {
            rows.push(Row {
                description: g.customer_name.clone(),
                quantity: String::new(),
                unit: String::new(),
                amount: String::new(),
                strong: true,
            });
        }
        for l in &g.lines {
            rows.push(line_row(l, c));
        }
        if grouped {
            rows.push(Row {
                description: format!("Subtotal {}", g.customer_name),
                quantity: String::new(),
                unit: String::new(),
                amount: money(g.subtotal, c),
                strong: true,
            });
        }
    }
    // Lines of no customer (an adjustment of the whole invoice).
    for l in view.lines.iter().filter(|l| {
        l.customer_id
            .as_ref()
            .is_none_or(|id| !view.customers.iter().any(|g| &g.customer_id == id))
    }) {
        rows.push(line_row(l, c));
    }
    let rate = view.tax_rate_bps;
    let totals = vec![
        ("Subtotal".to_owned(), money(view.subtotal, c)),
        (
            format!("Tax ({}.{:02}%)", rate / 100, rate % 100),
            money(view.tax, c),
        ),
        ("Total".to_owned(), money(view.total, c)),
        ("Amount due".to_owned(), money(view.amount_due, c)),
    ];
    Layout {
        title,
        issuer,
        payer: payer_lines(&view.payer),
        facts,
        rows,
        totals,
        draft,
    }
}

/// A credit note's document: what it credits on which invoice, and why.
pub fn credit_note_layout(
    view: &InvoiceView,
    note: &CreditNote,
    mut issuer: IssuerBlock,
) -> Layout {
    let c = view.currency.as_str();
    let invoice = view.number.clone().unwrap_or_default();
    let mut facts = vec![
        ("Credits invoice".to_owned(), invoice.clone()),
        ("Period".to_owned(), view.period.clone()),
        (
            "Issued".to_owned(),
            note.issued_at.format("%-d %B %Y").to_string(),
        ),
        ("Reason".to_owned(), note.reason.clone()),
    ];
    if let Some(name) = &view.customer_name {
        facts.push(("Customer".to_owned(), name.clone()));
    }
    let rows = note.lines.iter().map(|l| line_row(l, c)).collect();
    let rate = view.tax_rate_bps;
    let totals = vec![
        ("Subtotal".to_owned(), money(note.subtotal, c)),
        (
            format!("Tax ({}.{:02}%)", rate / 100, rate % 100),
            money(note.tax, c),
        ),
        ("Total credited".to_owned(), money(note.total, c)),
        (
            "Still due on the invoice".to_owned(),
            money(view.amount_due, c),
        ),
    ];
    issuer.payment_instructions =
        format!("This credit note reduces what is due on invoice {invoice}.");
    Layout {
        title: format!("Credit note {}", note.number),
        issuer,
        payer: payer_lines(&view.payer),
        facts,
        rows,
        totals,
        draft: false,
    }
}

/// A final document's PDF: the invoice's (`None`) or one of its credit notes'. What the
/// document sweep stores (`tenantry::service::documents::Render`).
pub fn render(
    view: &InvoiceView,
    tenant: &Tenant,
    note: Option<&CreditNote>,
) -> Result<Vec<u8>, tenantry::Error> {
    pdf(&layout_of(view, tenant, note))
}

/// The layout of the invoice's document (`None`) or of one of its credit notes', in its
/// issuer's name.
pub fn layout_of(view: &InvoiceView, tenant: &Tenant, note: Option<&CreditNote>) -> Layout {
    let issuer = issuer(view, tenant);
    match note {
        None => layout(view, issuer),
        Some(note) => credit_note_layout(view, note, issuer),
    }
}

const PAGE_TEMPLATE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ l.title }}</title>
<style>
body{font-family:"DejaVu Sans",Arial,sans-serif;color:#111827;margin:2rem auto;max-width:52rem}
header{border-bottom:4px solid {{ l.issuer.color }};padding-bottom:1rem;display:flex;justify-content:space-between}
table{width:100%;border-collapse:collapse;margin-top:1.5rem}td,th{padding:.3rem .4rem;text-align:left}
td.n,th.n{text-align:right}tr.strong td{font-weight:bold;border-top:1px solid #d1d5db}
.draft{color:#b91c1c;font-weight:bold}
</style></head><body>
<header><div><strong>{{ l.issuer.name }}</strong>{% for a in l.issuer.address %}<br>{{ a }}{% endfor %}{% if l.issuer.tax_id %}<br>Tax id: {{ l.issuer.tax_id }}{% endif %}</div>
<div><h1>{{ l.title }}</h1>{% if l.draft %}<p class="draft">DRAFT: not final, not payable yet</p>{% endif %}</div></header>
<section><h2>Bill to</h2><p>{% for p in l.payer %}{{ p }}<br>{% endfor %}</p>
<p>{% for f in l.facts %}{{ f[0] }}: {{ f[1] }}<br>{% endfor %}</p></section>
<table><thead><tr><th>Description</th><th class="n">Quantity</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead><tbody>
{% for r in l.rows %}<tr{% if r.strong %} class="strong"{% endif %}><td>{{ r.description }}</td><td class="n">{{ r.quantity }}</td><td class="n">{{ r.unit }}</td><td class="n">{{ r.amount }}</td></tr>
{% endfor %}</tbody></table>
<table>{% for t in l.totals %}<tr class="strong"><td>{{ t[0] }}</td><td class="n">{{ t[1] }}</td></tr>{% endfor %}</table>
<p>{{ l.issuer.payment_instructions }}</p>
</body></html>
"#;

/// The HTML view (values escaped by the template engine).
pub fn html(l: &Layout) -> Result<String, tenantry::Error> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("invoice.html", PAGE_TEMPLATE)
        .and_then(|_| env.get_template("invoice.html"))
        .and_then(|t| t.render(minijinja::context! { l => l }))
        .map_err(|e| tenantry::Error::Unexpected(anyhow::Error::new(e).context("the invoice page")))
}

struct Fonts {
    regular: Font,
    bold: Font,
}

static FONTS: LazyLock<Option<Fonts>> = LazyLock::new(|| {
    Some(Fonts {
        regular: Font::new(Arc::new(REGULAR.to_vec()).into(), 0)?,
        bold: Font::new(Arc::new(BOLD.to_vec()).into(), 0)?,
    })
});

/// The width of `text` at `size` points (advances, no kerning): to right-align numbers.
fn width(bytes: &[u8], size: f32, text: &str) -> f32 {
    let Ok(font) = skrifa::FontRef::new(bytes) else {
        return 0.0;
    };
    let charmap = font.charmap();
    let metrics = font.glyph_metrics(Size::new(size), LocationRef::default());
    text.chars()
        .map(|c| {
            charmap
                .map(c)
                .and_then(|g| metrics.advance_width(g))
                .unwrap_or(size * 0.5)
        })
        .sum()
}

fn hex_color(s: &str) -> rgb::Color {
    let p = |i: usize| {
        s.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0)
    };
    rgb::Color::new(p(1), p(3), p(5))
}

const A4: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 50.0;

/// The PDF: A4 pages, as many as the lines need.
pub fn pdf(l: &Layout) -> Result<Vec<u8>, tenantry::Error> {
    let fonts = FONTS
        .as_ref()
        .ok_or_else(|| tenantry::Error::Unexpected(anyhow::anyhow!("the bundled fonts")))?;
    let settings = PageSettings::from_wh(A4.0, A4.1)
        .ok_or_else(|| tenantry::Error::Unexpected(anyhow::anyhow!("page size")))?;
    let mut doc = Document::new();
    let right = A4.0 - MARGIN;
    let cols = [right - 210.0, right - 110.0, right];
    let mut rows = l.rows.iter().peekable();
    let mut first = true;
    while first || rows.peek().is_some() {
        let mut page = doc.start_page_with(settings.clone());
        let mut s = page.surface();
        let black = Fill {
            paint: rgb::Color::new(17, 24, 39).into(),
            ..Default::default()
        };
        s.set_fill(Some(black.clone()));
        let text = |s: &mut krilla::surface::Surface<'_>,
                    x: f32,
                    y: f32,
                    size: f32,
                    bold: bool,
                    t: &str,
                    align_right: bool| {
            let (font, bytes) = if bold {
                (fonts.bold.clone(), BOLD)
            } else {
                (fonts.regular.clone(), REGULAR)
            };
            let x = if align_right {
                x - width(bytes, size, t)
            } else {
                x
            };
            s.draw_text(
                Point::from_xy(x, y),
                font,
                size,
                t,
                false,
                TextDirection::Auto,
            );
        };
        let mut y = MARGIN + 10.0;
        if first {
            text(&mut s, MARGIN, y, 13.0, true, &l.issuer.name, false);
            text(&mut s, right, y, 16.0, true, &l.title, true);
            y += 14.0;
            for a in &l.issuer.address {
                text(&mut s, MARGIN, y, 9.0, false, a, false);
                y += 12.0;
            }
            if let Some(t) = &l.issuer.tax_id {
                text(
                    &mut s,
                    MARGIN,
                    y,
                    9.0,
                    false,
                    &format!("Tax id: {t}"),
                    false,
                );
                y += 12.0;
            }
            if l.draft {
                s.set_fill(Some(Fill {
                    paint: rgb::Color::new(185, 28, 28).into(),
                    ..Default::default()
                }));
                text(
                    &mut s,
                    right,
                    y,
                    10.0,
                    true,
                    "DRAFT: not final, not payable yet",
                    true,
                );
                s.set_fill(Some(black.clone()));
            }
            y += 8.0;
            // The brand's rule under the header.
            let mut pb = PathBuilder::new();
            if let Some(r) = Rect::from_xywh(MARGIN, y, right - MARGIN, 3.0) {
                pb.push_rect(r);
            }
            if let Some(path) = pb.finish() {
                s.set_fill(Some(Fill {
                    paint: hex_color(&l.issuer.color).into(),
                    ..Default::default()
                }));
                s.draw_path(&path);
                s.set_fill(Some(black.clone()));
            }
            y += 24.0;
            text(&mut s, MARGIN, y, 10.0, true, "Bill to", false);
            let mut fy = y;
            for (k, v) in &l.facts {
                text(&mut s, cols[1], fy, 9.0, false, k, true);
                text(&mut s, right, fy, 9.0, false, v, true);
                fy += 12.0;
            }
            y += 13.0;
            for p in &l.payer {
                text(&mut s, MARGIN, y, 9.0, false, p, false);
                y += 12.0;
            }
            y = y.max(fy) + 16.0;
        }
        text(&mut s, MARGIN, y, 9.0, true, "Description", false);
        text(&mut s, cols[0], y, 9.0, true, "Quantity", true);
        text(&mut s, cols[1], y, 9.0, true, "Unit price", true);
        text(&mut s, cols[2], y, 9.0, true, "Amount", true);
        y += 16.0;
        while let Some(r) = rows.peek() {
            if y > A4.1 - MARGIN - 40.0 {
                break;
            }
            let desc: String = r.description.chars().take(70).collect();
            text(&mut s, MARGIN, y, 8.5, r.strong, &desc, false);
            text(&mut s, cols[0], y, 8.5, r.strong, &r.quantity, true);
            text(&mut s, cols[1], y, 8.5, r.strong, &r.unit, true);
            text(&mut s, cols[2], y, 8.5, r.strong, &r.amount, true);
            y += 13.0;
            rows.next();
        }
        if rows.peek().is_none() {
            y += 10.0;
            if y > A4.1 - MARGIN - 90.0 {
                s.finish();
                page.finish();
                page = doc.start_page_with(settings.clone());
                s = page.surface();
                s.set_fill(Some(black.clone()));
                y = MARGIN + 10.0;
            }
            for (k, v) in &l.totals {
                text(&mut s, cols[1], y, 10.0, true, k, true);
                text(&mut s, cols[2], y, 10.0, true, v, true);
                y += 15.0;
            }
            y += 10.0;
            text(
                &mut s,
                MARGIN,
                y,
                9.0,
                false,
                &l.issuer.payment_instructions,
                false,
            );
        }
        s.finish();
        page.finish();
        first = false;
    }
    doc.finish()
        .map_err(|e| tenantry::Error::Unexpected(anyhow::anyhow!("writing the invoice PDF: {e:?}")))
}
