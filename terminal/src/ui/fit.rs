//! Tables that never cut a value: each column is as wide as its widest cell, and when the pane
//! is too narrow the least important columns are dropped whole.

use ratatui::layout::Constraint;
use ratatui::style::Style;
use ratatui::text::Text;
use ratatui::widgets::{Cell, Row, Table};

/// One column: its header, how much it matters (0 is kept longest), and its cells.
#[derive(Debug)]
pub struct Column {
    pub header: String,
    pub priority: u8,
    pub right: bool,
    pub cells: Vec<(String, Style)>,
}

impl Column {
    pub fn new(header: &str, priority: u8, right: bool) -> Self {
        Self {
            header: header.to_owned(),
            priority,
            right,
            cells: Vec::new(),
        }
    }

    pub fn push(&mut self, text: String, style: Style) {
        self.cells.push((text, style));
    }

    fn width(&self) -> usize {
        self.cells
            .iter()
            .map(|(t, _)| t.chars().count())
            .chain(std::iter::once(self.header.chars().count()))
            .max()
            .unwrap_or(0)
    }
}

const SPACING: usize = 1;

/// Which columns fit in `width`, in their own order.
fn chosen(columns: &[Column], width: usize) -> Vec<usize> {
    let mut by_priority: Vec<usize> = (0..columns.len()).collect();
    by_priority.sort_by_key(|&i| (columns[i].priority, i));
    let mut used = 0;
    let mut keep = Vec::new();
    for i in by_priority {
        let need = columns[i].width() + if keep.is_empty() { 0 } else { SPACING };
        if used + need <= width {
            used += need;
            keep.push(i);
        }
    }
    keep.sort_unstable();
    keep
}

/// The table of the columns that fit in `width` (inside any border), with the header styled
/// `header`; row `r` takes style `row_style(r)`.
pub fn table(columns: &[Column], width: u16, header: Style) -> Table<'static> {
    let keep = chosen(columns, usize::from(width));
    let cell = |c: &Column, text: &str, style: Style| {
        let text = Text::from(text.to_owned()).style(style);
        Cell::from(if c.right { text.right_aligned() } else { text })
    };
    let header_row = Row::new(
        keep.iter()
            .map(|&i| cell(&columns[i], &columns[i].header, Style::new())),
    )
    .style(header);
    let rows = columns.first().map_or(0, |c| c.cells.len());
    let body: Vec<Row> = (0..rows)
        .map(|r| {
            Row::new(keep.iter().map(|&i| {
                let c = &columns[i];
                let (text, style) = c.cells.get(r).cloned().unwrap_or_default();
                cell(c, &text, style)
            }))
        })
        .collect();
    let widths: Vec<Constraint> = keep
        .iter()
        .map(|&i| Constraint::Length(u16::try_from(columns[i].width()).unwrap_or(u16::MAX)))
        .collect();
    Table::new(body, widths)
        .header(header_row)
        .column_spacing(u16::try_from(SPACING).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(header: &'static str, priority: u8, cells: &[&str]) -> Column {
        let mut c = Column::new(header, priority, true);
        for t in cells {
            c.push((*t).to_owned(), Style::new());
        }
        c
    }

    #[test]
    fn columns_drop_whole_by_priority_and_keep_their_order() {
        let cols = [
            col("Symbol", 0, &["AAPL"]),
            col("Bid", 3, &["229.86"]),
            col("Last", 1, &["229.90"]),
            col("Volume", 6, &["1.05M"]),
        ];
        assert_eq!(chosen(&cols, 100), [0, 1, 2, 3]);
        // Symbol 6 + Last 1+6 + Bid 1+6 = 20; Volume would need 7 more.
        assert_eq!(chosen(&cols, 20), [0, 1, 2]);
        assert_eq!(chosen(&cols, 13), [0, 2]);
        assert_eq!(chosen(&cols, 5), Vec::<usize>::new());
    }
}
