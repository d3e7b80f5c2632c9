//! Drawing the pictures a command was asked for, before any file is written, and warning about
//! a picture so large that a viewer will struggle with it. An SVG wider than
//! [`MAX_SVG_WIDTH`] is not drawn but refused, in one line naming the flags that draw it: its
//! width is known only once the run is done, so the run's other outputs are written anyway.

use std::path::PathBuf;

use super::outputs::{Flag, PicturePaths};
use crate::picture::geometry::MAX_SVG_WIDTH;
use crate::picture::layout::Layout;
use crate::picture::svg::{self, Flavor};
use crate::picture::{self, PictureError, labels, window};
use crate::trace::History;

/// A picture is large, and said so before it is written, from this many bytes on.
pub const LARGE_PICTURE_BYTES: usize = 64 << 20;

/// One picture, drawn and not yet written.
pub struct Drawn {
    /// The flag that asked for it.
    pub flag: Flag,
    /// Where it goes.
    pub path: PathBuf,
    /// What it is.
    pub text: String,
}

/// A function that draws one kind of picture.
type Renderer = fn(&History) -> Result<String, PictureError>;

/// The pictures drawn, and the one-line refusal of an SVG too wide to draw.
pub struct Pictures {
    /// The pictures to write.
    pub drawn: Vec<Drawn>,
    /// Why `--svg` was not drawn, if it was too wide.
    pub refused: Option<String>,
}

/// Draws each picture `paths` asks for; `--svg` only if it is at most [`MAX_SVG_WIDTH`] wide,
/// or `--svg-full` says to draw it anyway. `paths` has been checked ([`PicturePaths::svg_window`]).
pub fn draw(history: &History, paths: &PicturePaths) -> Result<Pictures, PictureError> {
    let mut pictures = Pictures {
        drawn: Vec::new(),
        refused: None,
    };
    if let Some(path) = &paths.svg {
        let mut layout = Layout::of(history)?;
        // Refused before anything ran, so no window here is malformed.
        if let Ok(Some(part)) = paths.svg_window() {
            layout = window::apply(&layout, part);
        }
        if layout.width > MAX_SVG_WIDTH && !paths.svg_full {
            pictures.refused = Some(format!(
                "--svg {}: the picture would be {} px wide (limit {MAX_SVG_WIDTH}): draw a part \
                 of it with --svg-lamport FROM..TO or --svg-first N, or the whole with \
                 --svg-full, or open it with --html",
                path.display(),
                layout.width
            ));
        } else {
            pictures.drawn.push(Drawn {
                flag: Flag::Svg,
                path: path.clone(),
                text: {
                    // Placed once the picture is cut to what it shows: placing labels costs
                    // far more than laying out the events.
                    labels::place(&mut layout);
                    svg::draw(&layout, Flavor::Standalone)
                },
            });
        }
    }
    let renderers: [(Flag, &Option<PathBuf>, Renderer); 2] = [
        (Flag::Html, &paths.html, picture::html::render),
        (Flag::Shiviz, &paths.shiviz, picture::shiviz::render),
    ];
    for (flag, path, render) in renderers {
        if let Some(path) = path {
            pictures.drawn.push(Drawn {
                flag,
                path: path.clone(),
                text: render(history)?,
            });
        }
    }
    Ok(pictures)
}

/// The warning for a picture of [`LARGE_PICTURE_BYTES`] or more, if `drawn` is one.
pub fn warning(drawn: &Drawn, events: usize) -> Option<String> {
    let bytes = drawn.text.len();
    (bytes >= LARGE_PICTURE_BYTES).then(|| {
        format!(
            "warning: {} {}: a picture of {events} events takes {} MiB; a browser may take long \
             to open it",
            drawn.flag.name(),
            drawn.path.display(),
            bytes >> 20
        )
    })
}
