//! A part of a diagram too wide to draw whole (see [`super::geometry::MAX_SVG_WIDTH`]): the
//! events whose Lamport clock is in a range, or the first events in causal order, with the
//! arrows whose both ends are shown. Arrows that leave or enter the part are counted in its
//! subtitle, not drawn. Cut from a whole [`Layout`], so each event keeps the place of its
//! label, shifted left with everything else.

use std::collections::BTreeMap;

use super::geometry::{LEFT, MIN_WIDTH, RIGHT, SUBTITLE_CHAR_WIDTH, TEXT_LEFT};
use super::layout::Layout;

/// Which part of a diagram to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The events whose Lamport clock is in `FROM..=TO`.
    Lamport(u64, u64),
    /// The first `N` events in causal order.
    First(usize),
}

impl Window {
    /// Parses `FROM..TO` (both included, `FROM` at most `TO`), strictly: the problem as a
    /// phrase, for a one-line refusal.
    pub fn lamport(text: &str) -> Result<Self, String> {
        let (from, to) = text
            .split_once("..")
            .ok_or_else(|| format!("{text}: expected FROM..TO, e.g. 40..80"))?;
        let number = |part: &str| {
            part.parse::<u64>().map_err(|_| {
                format!("{text}: {part:?} is not a Lamport clock (a whole number, e.g. 40..80)")
            })
        };
        let (from, to) = (number(from)?, number(to)?);
        if from > to {
            return Err(format!("{text}: FROM is after TO (give {to}..{from})"));
        }
        Ok(Window::Lamport(from, to))
    }
}

/// `1,204`: a count with thousands separators.
fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The part `window` of `whole`, its subtitle saying what it left out.
pub fn apply(whole: &Layout, window: Window) -> Layout {
    let shown: Vec<bool> = whole
        .dots
        .iter()
        .enumerate()
        .map(|(index, dot)| match window {
            Window::Lamport(from, to) => (from..=to).contains(&dot.lamport),
            Window::First(n) => index < n,
        })
        .collect();
    let mut new_index = BTreeMap::new();
    for (index, _) in shown.iter().enumerate().filter(|(_, shown)| **shown) {
        new_index.insert(index, new_index.len());
    }
    let left = whole
        .dots
        .iter()
        .zip(&shown)
        .filter(|(_, shown)| **shown)
        .map(|(dot, _)| dot.x)
        .min()
        .unwrap_or(LEFT);
    let shift = left - LEFT;
    let mut layout = whole.clone();
    layout.dots = whole
        .dots
        .iter()
        .zip(&shown)
        .filter(|(_, shown)| **shown)
        .map(|(dot, _)| {
            let mut dot = dot.clone();
            dot.x -= shift;
            dot
        })
        .collect();
    layout.arrows = whole
        .arrows
        .iter()
        .filter_map(|arrow| {
            let mut arrow = arrow.clone();
            arrow.from = *new_index.get(&arrow.from)?;
            arrow.to = *new_index.get(&arrow.to)?;
            Some(arrow)
        })
        .collect();
    let right = layout.dots.iter().map(|dot| dot.x).max().unwrap_or(LEFT);
    let (lowest, highest) = match window {
        Window::Lamport(from, to) => (from, to),
        Window::First(_) => (
            layout.dots.iter().map(|dot| dot.lamport).min().unwrap_or(0),
            layout.dots.iter().map(|dot| dot.lamport).max().unwrap_or(0),
        ),
    };
    layout.lamport_ticks = whole
        .lamport_ticks
        .iter()
        .filter(|tick| {
            tick.label
                .parse::<u64>()
                .is_ok_and(|lamport| (lowest..=highest).contains(&lamport))
        })
        .map(|tick| {
            let mut tick = tick.clone();
            tick.x -= shift;
            tick
        })
        .filter(|tick| tick.x >= LEFT && tick.x <= right)
        .collect();
    let inside = |x: i64| (left..=right + shift).contains(&x);
    let faults = &mut layout.faults;
    faults
        .lost
        .retain(|lost| inside(lost.from.0) && inside(lost.to.0));
    faults.crashes.retain(|crash| inside(crash.x));
    faults
        .bands
        .retain(|band| inside(band.x.0) && inside(band.x.1));
    for lost in &mut faults.lost {
        lost.from.0 -= shift;
        lost.to.0 -= shift;
    }
    for crash in &mut faults.crashes {
        crash.x -= shift;
    }
    for band in &mut faults.bands {
        band.x = (band.x.0 - shift, band.x.1 - shift);
        band.label_at.0 -= shift;
    }
    let max_lamport = whole.dots.iter().map(|dot| dot.lamport).max().unwrap_or(0);
    let part = match window {
        Window::Lamport(from, to) => format!("Lamport {from}..{to} of 0..{max_lamport}"),
        Window::First(n) => format!("the first {} events in causal order", count(n)),
    };
    layout.subtitle = format!(
        "{part}: {} of {} events, {} of {} messages shown · {}",
        count(layout.dots.len()),
        count(whole.dots.len()),
        count(layout.arrows.len()),
        count(whole.arrows.len()),
        whole.subtitle
    );
    let subtitle_end = TEXT_LEFT
        + SUBTITLE_CHAR_WIDTH * i64::try_from(layout.subtitle.chars().count()).unwrap_or(0)
        + TEXT_LEFT;
    layout.width = (right + RIGHT).max(MIN_WIDTH).max(subtitle_end);
    // A standalone picture has no order-of-recording view: its width is the window's.
    layout.seq_width = layout.width;
    layout.seq_ticks.clear();
    layout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lamport_range_is_parsed_strictly() {
        assert_eq!(Window::lamport("40..80"), Ok(Window::Lamport(40, 80)));
        assert_eq!(Window::lamport("7..7"), Ok(Window::Lamport(7, 7)));
        assert_eq!(
            Window::lamport("5..2"),
            Err("5..2: FROM is after TO (give 2..5)".to_string())
        );
        assert_eq!(
            Window::lamport("x..3"),
            Err("x..3: \"x\" is not a Lamport clock (a whole number, e.g. 40..80)".to_string())
        );
        for bad in ["40", "40..", "..3", "1...3", "-1..3", " 1..3"] {
            assert!(Window::lamport(bad).is_err(), "{bad}");
        }
        assert_eq!(count(1204), "1,204");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000_000), "1,000,000");
    }
}
