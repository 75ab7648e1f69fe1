//! The depth ladder of the selected symbol: asks above, bids below, best in the middle with the
//! spread between; each level's size and the cumulative size from the touch, drawn as a bar;
//! the user's resting orders marked at their price; the book's state in the title.

use protocol::{Decimal, Side};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};

use crate::format;
use crate::state::{BookState, State};
use crate::theme;

/// The ladder, drawn from a borrowed state.
#[derive(Debug, Clone, Copy)]
pub struct DepthLadder<'a> {
    pub state: &'a State,
}

/// One row: price, size, cumulative size from the touch.
struct Rung {
    side: Side,
    price: Decimal,
    size: Decimal,
    cumulative: Decimal,
}

impl Widget for DepthLadder<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let state = self.state;
        let depth = &state.depth;
        let symbol = depth.symbol.as_deref().unwrap_or("-");
        let style = match depth.state {
            BookState::InSync => theme::dim(),
            BookState::Waiting => theme::stale(),
            BookState::Resyncing { .. } => Style::new().fg(theme::DOWN),
        };
        let title = Line::from(vec![
            Span::raw(format!(" Depth {symbol} ")),
            Span::styled(depth.state.label(), style),
            Span::raw(format!(" · resyncs {} ", depth.resyncs)),
        ]);
        let block = Block::bordered().title(title);
        let inner = block.inner(area);
        Widget::render(block, area, buf);
        if inner.height < 3 || inner.width < 20 {
            return;
        }
        let per_side = usize::from((inner.height - 1) / 2).min(depth.book.depth());
        let tick = state
            .watchlist
            .row(symbol)
            .map(|r| r.tick_size)
            .filter(|t| !t.is_zero());
        let rungs = |side: Side, levels: Vec<(&Decimal, &Decimal)>| -> Vec<Rung> {
            let mut cumulative = Decimal::ZERO;
            levels
                .into_iter()
                .take(per_side)
                .map(|(&price, &size)| {
                    cumulative = cumulative.saturating_add(size);
                    Rung {
                        side,
                        price,
                        size,
                        cumulative,
                    }
                })
                .collect()
        };
        let asks = rungs(Side::Sell, depth.book.asks().collect());
        let bids = rungs(Side::Buy, depth.book.bids().collect());
        let most = asks
            .iter()
            .chain(&bids)
            .map(|r| r.cumulative)
            .max()
            .unwrap_or(Decimal::ONE)
            .max(Decimal::ONE);
        // Resting orders of this symbol, by side and price.
        let resting: Vec<(Side, Decimal, Decimal)> = state
            .orders
            .rows
            .iter()
            .filter(|o| o.symbol.as_str() == symbol && o.status.is_open())
            .filter_map(|o| Some((o.side, o.price?, o.qty.saturating_sub(o.filled))))
            .collect();
        let bar_width = usize::from(inner.width).saturating_sub(34);
        let line = |rung: &Rung| -> Line {
            let colour = if rung.side == Side::Buy {
                theme::UP
            } else {
                theme::DOWN
            };
            let share = (rung.cumulative / most).min(Decimal::ONE);
            let filled = (Decimal::from(bar_width) * share)
                .round()
                .try_into()
                .unwrap_or(0_usize)
                .min(bar_width);
            let mine: Decimal = resting
                .iter()
                .filter(|(side, price, _)| *side == rung.side && *price == rung.price)
                .map(|(_, _, left)| *left)
                .sum();
            let mark = if mine.is_zero() {
                String::new()
            } else {
                format!(" ◀ {}", format::quantity(mine))
            };
            Line::from(vec![
                Span::styled(
                    format!("{:>11} ", format::price(rung.price, tick)),
                    Style::new().fg(colour),
                ),
                Span::raw(format!("{:>8} ", format::quantity(rung.size))),
                Span::styled(
                    format!("{:>9} ", format::quantity(rung.cumulative)),
                    theme::dim(),
                ),
                Span::styled("█".repeat(filled), Style::new().fg(colour)),
                Span::styled(mark, theme::header()),
            ])
        };
        let mut lines: Vec<Line> = Vec::with_capacity(per_side * 2 + 1);
        // Asks from the deepest shown down to the best, so the best of both meet in the middle.
        for _ in asks.len()..per_side {
            lines.push(Line::raw(""));
        }
        lines.extend(asks.iter().rev().map(line));
        let spread = match (asks.first(), bids.first()) {
            (Some(a), Some(b)) => format!(
                "{:>11}  spread {}",
                "",
                format::price(a.price.saturating_sub(b.price), tick)
            ),
            _ if depth.state == BookState::InSync => format!("{:>11}  one side is empty", ""),
            _ => String::new(),
        };
        lines.push(Line::styled(spread, theme::dim()));
        lines.extend(bids.iter().map(line));
        Widget::render(Paragraph::new(lines), inner, buf);
    }
}
