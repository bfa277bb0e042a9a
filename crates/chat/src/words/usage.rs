//! `!usage`: a resident's spending per day as a chart (a PNG, sent as an image: encrypted
//! in an encrypted room), with the totals in words under it.

use townhall_wire::hall::{UsageDay, dollars};

use crate::Chat;

/// The totals of the span, in words.
pub fn usage_totals(resident: &str, days: u32, spent: &[UsageDay]) -> String {
    let turns: u64 = spent.iter().map(|d| d.turns).sum();
    let tokens: u64 = spent.iter().map(|d| d.tokens).sum();
    let usd: f64 = spent.iter().map(|d| d.usd).sum();
    format!(
        "_{resident}, last {days} days: {turns} turn(s), {tokens} tokens, {} (from the audit log's turns)._",
        dollars(usd)
    )
}

/// Draw the chart and send it, then the totals; a chart that cannot be drawn is said.
pub async fn post_chart<C: Chat>(
    chat: &C,
    room: &str,
    thread: Option<&str>,
    resident: &str,
    days: u32,
    spent: &[UsageDay],
) {
    let title = format!("{resident}, last {days} days: tokens and cost");
    let sent = match townhall_chart::png(&title, spent) {
        Ok(png) => {
            let name = format!("usage-{resident}-{days}d.png");
            chat.upload(room, thread, &name, "image/png", png)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    let words = match sent {
        Ok(()) => usage_totals(resident, days, spent),
        Err(e) => format!("_No chart: {e}_ {}", usage_totals(resident, days, spent)),
    };
    if let Err(e) = chat.send(room, thread, &words).await {
        tracing::warn!(%resident, "{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeChat;

    #[tokio::test]
    async fn the_chart_goes_as_a_png_and_the_totals_in_words() {
        let day = |date: &str, turns, tokens, usd| UsageDay {
            date: date.into(),
            turns,
            tokens,
            usd,
        };
        let spent = [
            day("2026-12-03", 1, 100, 0.5),
            day("2026-12-04", 2, 50, 0.25),
        ];
        let chat = FakeChat::default();
        post_chart(&chat, "!r", None, "ada", 2, &spent).await;
        let calls = chat.calls.calls();
        assert!(
            calls[0].starts_with("upload !r usage-ada-2d.png image/png"),
            "{calls:?}"
        );
        assert_eq!(
            calls[1],
            "send !r _ada, last 2 days: 3 turn(s), 150 tokens, $0.75 (from the audit log's turns)._"
        );
    }
}
