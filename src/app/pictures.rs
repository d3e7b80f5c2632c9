//! Drawing the pictures a command was asked for, before any file is written, and warning about
//! a picture so large that a viewer will struggle with it.

use std::path::PathBuf;

use super::outputs::{Flag, PicturePaths};
use crate::picture::{self, PictureError};
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

/// Draws each picture `paths` asks for.
pub fn draw(history: &History, paths: &PicturePaths) -> Result<Vec<Drawn>, PictureError> {
    let renderers: [(Flag, &Option<PathBuf>, Renderer); 3] = [
        (Flag::Svg, &paths.svg, picture::svg::render),
        (Flag::Html, &paths.html, picture::html::render),
        (Flag::Shiviz, &paths.shiviz, picture::shiviz::render),
    ];
    let mut drawn = Vec::new();
    for (flag, path, render) in renderers {
        if let Some(path) = path {
            drawn.push(Drawn {
                flag,
                path: path.clone(),
                text: render(history)?,
            });
        }
    }
    Ok(drawn)
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
