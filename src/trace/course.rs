//! The output formats of the course's years that keep the shape of the original's (one entry per
//! branch, then one per deposit or withdraw): branch entries keyed `pid` instead of `id`, and
//! each year's names for the sub-events. Both years' runs use the `strict` clocks.
//!
//! | year | `X_propagate_request` is written | others |
//! |---|---|---|
//! | 2021 | `X_broadcast_request` | `X_broadcast_execute`, `X_broadcast_response` |
//! | 2022 | `X_propogate_request` (or, asked, `X_propagate_request`) | as ours |

use serde_json::Value;

use super::records::Trace;
use crate::model::{ClockModel, Op, Step, SubEvent};

/// A course year whose output format this project writes and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Course {
    /// 2021: `pid` keys, `X_broadcast_*` names; its clock rules are not known exactly.
    #[value(name = "2021")]
    Y2021,
    /// 2022 and spring 2023: `pid` keys, the course's spelling `X_propogate_*`, the `strict`
    /// clocks exactly.
    #[value(name = "2022")]
    Y2022,
    /// Fall 2023 to 2025: the `messages` clocks, an output in three parts (see
    /// [`super::parts`]).
    #[value(name = "2023")]
    Y2023,
}

/// How 2022's propagation steps are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Spelling {
    /// `propogate`, as the course's own documents spell it.
    #[default]
    Propogate,
    /// `propagate`.
    Propagate,
}

impl Course {
    /// The year, as the command line and the reports write it.
    pub fn name(self) -> &'static str {
        match self {
            Course::Y2021 => "2021",
            Course::Y2022 => "2022",
            Course::Y2023 => "2023",
        }
    }

    /// Whether the year's clock rules are known exactly (else only their order is checked).
    pub fn exact(self) -> bool {
        self != Course::Y2021
    }

    /// The clock model the year's runs follow.
    pub fn model(self) -> ClockModel {
        match self {
            Course::Y2021 | Course::Y2022 => ClockModel::Strict,
            Course::Y2023 => ClockModel::Messages,
        }
    }

    /// The name of `event` in this year's output.
    pub fn event_name(self, event: SubEvent, spelling: Spelling) -> String {
        let propagate = match (self, spelling) {
            (Course::Y2021, _) => "broadcast",
            (_, Spelling::Propogate) => "propogate",
            (_, Spelling::Propagate) => "propagate",
        };
        let step = match event.step {
            Step::Request => "request".to_string(),
            Step::Execute => "execute".to_string(),
            Step::PropagateRequest => format!("{propagate}_request"),
            Step::PropagateExecute => format!("{propagate}_execute"),
            Step::PropagateResponse => format!("{propagate}_response"),
            Step::Response => "response".to_string(),
        };
        format!("{}_{step}", event.op.name())
    }

    /// Reads a name of any year's spelling (ours, `propogate`, `broadcast`, and 2021's
    /// students' `propagate`): the sub-event, and the year the spelling is particular to.
    pub fn parse(name: &str) -> Option<(SubEvent, Option<Course>)> {
        if let Some(event) = SubEvent::parse(name) {
            return Some((event, None));
        }
        let (op, rest) = if let Some(rest) = name.strip_prefix("deposit_") {
            (Op::Deposit, rest)
        } else {
            (Op::Withdraw, name.strip_prefix("withdraw_")?)
        };
        let (course, step) = if let Some(step) = rest.strip_prefix("propogate_") {
            (Course::Y2022, step)
        } else {
            (Course::Y2021, rest.strip_prefix("broadcast_")?)
        };
        let step = match step {
            "request" => Step::PropagateRequest,
            "execute" => Step::PropagateExecute,
            "response" => Step::PropagateResponse,
            _ => return None,
        };
        Some((SubEvent { op, step }, Some(course)))
    }
}

impl Trace {
    /// The output in `course`'s format: [`Trace::output`]'s entries, with `pid` keys and the
    /// year's names. The run must have used the `strict` clocks (the reply is logged); for
    /// 2023, whose output is of another shape, see [`super::parts`].
    pub fn course_output(&self, course: Course, spelling: Spelling) -> Value {
        self.output_named("pid", |event| course.event_name(event, spelling))
    }

    /// [`Trace::course_output`] as text: JSON indented by two spaces, ending with a newline.
    pub fn course_output_text(&self, course: Course, spelling: Spelling) -> String {
        crate::json::pretty(&self.course_output(course, spelling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_of_every_year_reads_back() {
        for op in [Op::Deposit, Op::Withdraw] {
            for step in Step::ALL {
                let event = SubEvent { op, step };
                for (course, spelling) in [
                    (Course::Y2021, Spelling::Propogate),
                    (Course::Y2022, Spelling::Propogate),
                    (Course::Y2022, Spelling::Propagate),
                ] {
                    let name = course.event_name(event, spelling);
                    assert_eq!(Course::parse(&name).map(|(e, _)| e), Some(event), "{name}");
                }
            }
        }
        assert_eq!(
            Course::parse("withdraw_broadcast_response"),
            Some((
                SubEvent {
                    op: Op::Withdraw,
                    step: Step::PropagateResponse
                },
                Some(Course::Y2021)
            ))
        );
        assert_eq!(Course::parse("deposit_propogate_send"), None);
        assert_eq!(Course::parse("deposit_broadcast"), None);
    }
}
