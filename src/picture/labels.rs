//! Where the labels of a diagram go so that no arrow crosses them: an event's Lamport clock
//! (above its dot), its note (the balance or result, below it), and the texts of faults. Each
//! label tries a short list of places, nearest first (above, below, to the side, a bit
//! farther), and takes the first that no arrow crosses, preferring one that also covers no dot
//! and no label placed before it. Where every place is crossed it takes the one crossed least;
//! every label has a white halo (see [`super::svg`]) so it stays readable even there.
//!
//! A label's box is estimated from its font size and length ([`label_box`]); arrows are the
//! messages' lines, as drawn ([`endpoints`]), and the dashed lines of lost deliveries. Both are
//! kept in columns of the diagram so a large run is placed in time proportional to its size.

use std::collections::HashMap;

use super::geometry::{
    Anchor, CLOCK_FONT, DOT_RADIUS, LABEL_CHAR_WIDTH, NOTE_FONT, Offset, endpoints, label_box,
    segment_hits_box,
};
use super::layout::Layout;

/// The width of a column of [`Obstacles`].
const COLUMN: f64 = 64.0;
/// Room kept between a label and an arrow: the stroke and the arrowhead's width.
const ARROW_ROOM: f64 = 3.0;

type Area = (f64, f64, f64, f64);

/// What a label should not cover, by column.
#[derive(Default)]
struct Obstacles {
    segments: Vec<((f64, f64), (f64, f64))>,
    boxes: Vec<(Area, bool)>,
    segment_columns: HashMap<i64, Vec<usize>>,
    box_columns: HashMap<i64, Vec<usize>>,
}

fn columns(left: f64, right: f64) -> std::ops::RangeInclusive<i64> {
    (left / COLUMN).floor() as i64..=(right / COLUMN).floor() as i64
}

impl Obstacles {
    fn add_segment(&mut self, a: (f64, f64), b: (f64, f64)) {
        for column in columns(a.0.min(b.0), a.0.max(b.0)) {
            self.segment_columns
                .entry(column)
                .or_default()
                .push(self.segments.len());
        }
        self.segments.push((a, b));
    }

    /// A box not to cover: a dot (`label` false) or a label placed already.
    fn add_box(&mut self, area: Area, label: bool) {
        for column in columns(area.0, area.2) {
            self.box_columns
                .entry(column)
                .or_default()
                .push(self.boxes.len());
        }
        self.boxes.push((area, label));
    }

    /// How many arrows cross `area` (with room to spare), and whether it covers a dot or a
    /// label.
    fn cost(&self, area: Area) -> (usize, bool) {
        let room = (
            area.0 - ARROW_ROOM,
            area.1 - ARROW_ROOM,
            area.2 + ARROW_ROOM,
            area.3 + ARROW_ROOM,
        );
        let mut crossing: Vec<usize> = columns(room.0, room.2)
            .filter_map(|column| self.segment_columns.get(&column))
            .flatten()
            .copied()
            .filter(|index| {
                let (a, b) = self.segments[*index];
                segment_hits_box(a, b, room)
            })
            .collect();
        crossing.sort_unstable();
        crossing.dedup();
        let covers = columns(area.0, area.2)
            .filter_map(|column| self.box_columns.get(&column))
            .flatten()
            .any(|index| overlap(self.boxes[*index].0, area));
        (crossing.len(), covers)
    }

    /// The first of `places` (anchor points) whose box `area_at` is crossed by no arrow and
    /// covers nothing; else the first crossed by no arrow; else the one crossed least. The
    /// label's box is then an obstacle for the labels after it.
    fn place(&mut self, places: &[(f64, f64)], area_at: impl Fn((f64, f64)) -> Area) -> usize {
        let costs: Vec<(usize, bool)> = places.iter().map(|at| self.cost(area_at(*at))).collect();
        let chosen = costs
            .iter()
            .position(|cost| *cost == (0, false))
            .or_else(|| costs.iter().position(|(crossed, _)| *crossed == 0))
            .or_else(|| (0..costs.len()).min_by_key(|index| (costs[*index].0, *index)))
            .unwrap_or(0);
        if let Some(at) = places.get(chosen) {
            self.add_box(area_at(*at), true);
        }
        chosen
    }
}

fn overlap(a: Area, b: Area) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Offsets from a dot for a `chars`-long label, nearest first: above it first for a clock
/// (`above_first`), below it first for a note.
fn around_dot(chars: usize, above_first: bool) -> Vec<Offset> {
    let half = chars as i64 * LABEL_CHAR_WIDTH / 2;
    let side = half + DOT_RADIUS + 3;
    let diagonal = half + 4;
    let (above, below) = (-(DOT_RADIUS + 5), DOT_RADIUS + 15);
    let (above, below) = if above_first {
        (above, below)
    } else {
        (below, above)
    };
    let farther = |y: i64| y + y.signum() * 12;
    let mut offsets = vec![
        (0, above),
        (diagonal, above),
        (-diagonal, above),
        (side, 4),
        (-side, 4),
        (0, farther(above)),
        (diagonal + 6, farther(above)),
        (-diagonal - 6, farther(above)),
        (0, below),
        (diagonal, below),
        (-diagonal, below),
        (0, farther(below)),
        (side + 10, 4),
        (-side - 10, 4),
    ];
    // Farther rings, for the crowded places of a large run.
    for ring in 2..=4 {
        for y in [above, below] {
            let y = y + y.signum() * 12 * ring;
            for x in [0, diagonal, -diagonal, 2 * diagonal, -2 * diagonal] {
                offsets.push((x, y));
            }
        }
    }
    offsets
}

/// Places every label of `layout`: see the module documentation.
pub fn place(layout: &mut Layout) {
    let mut obstacles = Obstacles::default();
    for arrow in &layout.arrows {
        let (Some(from), Some(to)) = (layout.dots.get(arrow.from), layout.dots.get(arrow.to))
        else {
            continue;
        };
        let (x1, y1, x2, y2) = endpoints(from.x, from.y, to.x, to.y);
        obstacles.add_segment((x1, y1), (x2, y2));
    }
    for lost in &layout.faults.lost {
        let ((x1, y1), (x2, y2)) = (lost.from, lost.to);
        obstacles.add_segment((x1 as f64, y1 as f64), (x2 as f64, y2 as f64));
    }
    let r = DOT_RADIUS as f64;
    for dot in &layout.dots {
        let (x, y) = (dot.x as f64, dot.y as f64);
        obstacles.add_box((x - r, y - r, x + r, y + r), false);
    }
    for dot in &mut layout.dots {
        let (x, y) = (dot.x as f64, dot.y as f64);
        let at = |offset: &Offset| (x + offset.0 as f64, y + offset.1 as f64);
        let chars = dot.lamport.to_string().len();
        let offsets = around_dot(chars, true);
        let places: Vec<(f64, f64)> = offsets.iter().map(at).collect();
        let chosen = obstacles.place(&places, |(x, y)| {
            label_box(x, y, chars, CLOCK_FONT, Anchor::Middle)
        });
        dot.clock_at = offsets.get(chosen).copied().unwrap_or(dot.clock_at);
        if let Some(note) = &dot.note {
            let chars = note.text.chars().count();
            let offsets = around_dot(chars, false);
            let places: Vec<(f64, f64)> = offsets.iter().map(at).collect();
            let chosen = obstacles.place(&places, |(x, y)| {
                label_box(x, y, chars, NOTE_FONT, Anchor::Middle)
            });
            dot.note_at = offsets.get(chosen).copied().unwrap_or(dot.note_at);
        }
    }
    for crash in &mut layout.faults.crashes {
        let offsets: Vec<Offset> = vec![(0, -20), (0, 30), (24, -20), (-24, -20), (0, -32)];
        let (x, y) = (crash.x as f64, crash.y as f64);
        let places: Vec<(f64, f64)> = offsets
            .iter()
            .map(|(dx, dy)| (x + *dx as f64, y + *dy as f64))
            .collect();
        let chosen = obstacles.place(&places, |(x, y)| {
            label_box(x, y, "crash".len(), NOTE_FONT, Anchor::Middle)
        });
        crash.label_at = offsets.get(chosen).copied().unwrap_or(crash.label_at);
    }
    for lost in &mut layout.faults.lost {
        let text = lost.times();
        if text.is_empty() {
            continue;
        }
        let chars = text.chars().count();
        let offsets: Vec<Offset> = vec![(8, 4), (8, -8), (8, 14), (-8 - 7 * chars as i64, 4)];
        let (x, y) = (lost.to.0 as f64, lost.to.1 as f64);
        let places: Vec<(f64, f64)> = offsets
            .iter()
            .map(|(dx, dy)| (x + *dx as f64, y + *dy as f64))
            .collect();
        let chosen = obstacles.place(&places, |(x, y)| {
            label_box(x, y, chars, NOTE_FONT, Anchor::Start)
        });
        lost.label_at = offsets.get(chosen).copied().unwrap_or(lost.label_at);
    }
    for band in &mut layout.faults.bands {
        let chars = band.label.chars().count();
        let ((left, right), (top, bottom)) = (band.x, band.y);
        let places_at: Vec<(i64, i64)> = vec![
            (right - 4, bottom - 5),
            (right - 4, top + 12),
            (right - 4, bottom + 12),
            (right - 4, top - 4),
            (left + chars as i64 * LABEL_CHAR_WIDTH, bottom + 12),
        ];
        let places: Vec<(f64, f64)> = places_at
            .iter()
            .map(|(x, y)| (*x as f64, *y as f64))
            .collect();
        let chosen = obstacles.place(&places, |(x, y)| {
            label_box(x, y, chars, NOTE_FONT, Anchor::End)
        });
        band.label_at = places_at.get(chosen).copied().unwrap_or(band.label_at);
    }
}
