//! Every user intent, decoupled from the keys that trigger it.

use protocol::Side;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `q`: quit, unless typing (in a form or prompt it is a letter).
    Quit,
    /// Ctrl-C: quit whatever is open.
    ForceQuit,
    ToggleHelp,
    /// Move the selection in the focused pane.
    Up,
    Down,
    PageUp,
    PageDown,
    /// Home or `g`: the first row; End or `G`: the last.
    First,
    Last,
    /// `o`: sort the watchlist by the next column; `O`: reverse it.
    NextSort,
    ReverseSort,
    /// Switch focus between the watchlist and the orders.
    SwitchFocus,
    /// Open the order form for the selected symbol.
    OpenOrder(Side),
    /// Cancel the selected open order.
    CancelOrder,
    /// Open the prompt to add a symbol to the watchlist.
    AddSymbol,
    /// Remove the selected symbol from the watchlist.
    RemoveSymbol,
    /// `l`: show the selected symbol's depth ladder, or hide it.
    ToggleDepth,
    /// Show positions and P&L instead of orders, or back.
    TogglePositions,
    /// Set (or change, or remove) the selected symbol's price alert.
    SetAlert,
    /// Show watchlist `n` (0-based; keys 1-9).
    SwitchList(usize),
    /// Text typed into the open form or prompt.
    Input(char),
    Backspace,
    /// Next field of the order form.
    NextField,
    Submit,
    Escape,
}
