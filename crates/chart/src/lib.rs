//! Usage charts: tokens (bars, left axis) and cost (a line, right axis) per day, drawn with
//! plotters — as a PNG for chat (`!usage`) and as SVG for a terminal (`townhall usage
//! --svg`). One drawing for both backends, so the two never differ.
//!
//! Its own crate so that both the chat process and root's CLI can link it without either
//! linking the other's code; it knows the town only as the hall's `UsageDay`.

use plotters::coord::Shift;
use plotters::prelude::*;

pub use townhall_wire::hall::UsageDay as Day;

/// The size every chart is drawn at.
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 400;

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("drawing the chart: {0}")]
    Draw(String),
    #[error("encoding the chart as PNG: {0}")]
    Png(#[from] png::EncodingError),
}

fn drawn<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// The font labels are drawn in, compiled in (the bitmap backend has no system fonts).
fn fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let regular = dejavu::sans::regular();
        if plotters::style::register_font("sans-serif", FontStyle::Normal, regular).is_err() {
            // Compiled in, so this is a build's fault: labels then fail to draw, and say so.
            eprintln!("townhall-chart: the compiled-in font did not load");
        }
    });
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    days: &[Day],
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    fonts();
    root.fill(&WHITE).map_err(drawn)?;
    let n = days.len().max(1) as f64;
    let most_tokens = days.iter().map(|d| d.tokens).max().unwrap_or(0).max(1) as f64 * 1.1;
    let most_usd = days.iter().map(|d| d.usd).fold(0.0, f64::max).max(0.01) * 1.1;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0f64..n, 0f64..most_tokens)
        .map_err(drawn)?
        .set_secondary_coord(0f64..n, 0f64..most_usd);
    let date = |x: &f64| {
        days.get(x.floor() as usize)
            .map(|d| d.date.get(5..).unwrap_or(&d.date).to_string())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(days.len().clamp(1, 14))
        .x_label_formatter(&date)
        .y_desc("tokens")
        .y_label_formatter(&|y| format!("{}", *y as u64))
        .draw()
        .map_err(drawn)?;
    chart
        .configure_secondary_axes()
        .y_desc("US$")
        .y_label_formatter(&|y| format!("{y:.2}"))
        .draw()
        .map_err(drawn)?;
    let bar = RGBColor(70, 110, 190).filled();
    chart
        .draw_series(days.iter().enumerate().map(|(i, d)| {
            let x = i as f64;
            Rectangle::new([(x + 0.15, 0.0), (x + 0.85, d.tokens as f64)], bar)
        }))
        .map_err(drawn)?
        .label("tokens")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], bar));
    let cost = RGBColor(200, 80, 40);
    chart
        .draw_secondary_series(LineSeries::new(
            days.iter()
                .enumerate()
                .map(|(i, d)| (i as f64 + 0.5, d.usd)),
            cost.stroke_width(2),
        ))
        .map_err(drawn)?
        .label("cost")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 10, y)], cost.stroke_width(2)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(drawn)?;
    root.present().map_err(drawn)
}

/// The chart as SVG.
pub fn svg(title: &str, days: &[Day]) -> Result<String, ChartError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, title, days)?;
    }
    Ok(out)
}

/// The chart as a PNG of WIDTH × HEIGHT.
pub fn png(title: &str, days: &[Day]) -> Result<Vec<u8>, ChartError> {
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, title, days)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&rgb)?;
    Ok(out)
}

/// A PNG's width and height, from its header; None when it is not a PNG.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((word(16), word(20)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week() -> Vec<Day> {
        (1..=7)
            .map(|i| Day {
                date: format!("2026-12-0{i}"),
                turns: i,
                tokens: i * 1000,
                usd: i as f64 * 0.05,
            })
            .collect()
    }

    #[test]
    fn a_png_of_the_declared_size_and_an_svg_with_the_labels() {
        let png = png("ada, last 7 days", &week()).unwrap();
        assert_eq!(png_size(&png), Some((WIDTH, HEIGHT)));
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let svg = svg("ada, last 7 days", &week()).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("ada, last 7 days") && svg.contains("12-07"),
            "{svg:.300}"
        );
        assert!(png_size(b"GIF89a").is_none());
    }

    #[test]
    fn no_days_is_an_empty_chart_not_an_error() {
        assert!(png("nothing yet", &[]).is_ok());
    }
}
