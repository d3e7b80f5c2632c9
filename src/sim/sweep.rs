//! Sweeps: one simulation per seed of a range, each checked, with the command that replays any
//! seed that failed.

use std::fmt;
use std::ops::RangeInclusive;

use super::{SimConfig, simulate};
use crate::model::{ClockModel, PropagationMode, Schedule, SessionGuarantees};
use crate::scenario::Scenario;
use crate::scenario::workload::{self, WorkloadSpec};

/// A range of seeds, first to last, both included; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeds(RangeInclusive<u64>);

/// A range of seeds that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadSeeds {
    /// Not `FIRST..LAST`.
    #[error("expected FIRST..LAST, got {0:?}")]
    Shape(String),
    /// An end that is not a whole number.
    #[error("{0:?} is not a whole number")]
    NotANumber(String),
    /// The last seed comes before the first.
    #[error("the range {first}..{last} is empty")]
    Empty {
        /// The first seed.
        first: u64,
        /// The last seed.
        last: u64,
    },
}

impl Seeds {
    /// The seeds `first..=last`; refused if empty.
    pub fn new(first: u64, last: u64) -> Result<Self, BadSeeds> {
        if first > last {
            return Err(BadSeeds::Empty { first, last });
        }
        Ok(Self(first..=last))
    }

    /// How many seeds there are.
    pub fn count(&self) -> u64 {
        (self.0.end() - self.0.start()).saturating_add(1)
    }

    /// The seeds, in order.
    pub fn iter(&self) -> RangeInclusive<u64> {
        self.0.clone()
    }
}

impl std::str::FromStr for Seeds {
    type Err = BadSeeds;

    /// Parses `FIRST..LAST`, e.g. `1..1000`.
    fn from_str(text: &str) -> Result<Self, BadSeeds> {
        let (first, last) = text
            .split_once("..")
            .ok_or_else(|| BadSeeds::Shape(text.to_string()))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u64>()
                .map_err(|_| BadSeeds::NotANumber(part.to_string()))
        };
        Seeds::new(number(first)?, number(last)?)
    }
}

impl fmt::Display for Seeds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.0.start(), self.0.end())
    }
}

/// What a simulation ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simulated<'a> {
    /// The input file, as the user named it.
    File(&'a str),
    /// The built-in sample.
    Sample,
    /// The workload a sweep generates for the seed.
    Workload,
}

impl<'a> Simulated<'a> {
    /// What a sweep of `input` runs for each seed: that file, or each seed's workload.
    pub fn in_sweep(input: Option<&'a str>) -> Self {
        input.map_or(Simulated::Workload, Simulated::File)
    }
}

/// The command that replays one simulation of `simulated`.
pub fn replay_command(simulated: Simulated<'_>, config: &SimConfig) -> String {
    let mut command = String::from("lamport-bank simulate");
    match simulated {
        Simulated::File(input) => {
            command.push(' ');
            command.push_str(&shell_word(input));
        }
        Simulated::Sample => {}
        Simulated::Workload => command.push_str(" --workload"),
    }
    command.push_str(&format!(
        " --seed {} --faults {}",
        config.seed, config.faults
    ));
    if config.model != ClockModel::Original {
        command.push_str(&format!(" --clocks {}", config.model.name()));
    }
    if config.schedule == Schedule::Concurrent {
        command.push_str(" --concurrent");
    }
    if config.propagation != PropagationMode::Sync {
        command.push_str(&format!(" --propagation {}", config.propagation.name()));
    }
    if config.guarantees != SessionGuarantees::Enforced {
        command.push_str(&format!(
            " --session-guarantees {}",
            config.guarantees.name()
        ));
    }
    command
}

/// `word` as a shell reads it back: as it is when it holds nothing the shell would split or
/// expand, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:=+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// One seed that failed, with its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// Every reason, safety first.
    pub problems: Vec<String>,
}

/// What a sweep over many seeds found (so far, if it was stopped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepSummary {
    /// How many seeds ran.
    pub seeds: u64,
    /// The seeds that failed.
    pub failures: Vec<Failure>,
    /// Faults injected or met over all seeds.
    pub faults: usize,
    /// Simulated time over all seeds, in milliseconds.
    pub simulated_ms: u64,
    /// Whether the sweep was stopped before its last seed.
    pub stopped: bool,
}

impl SweepSummary {
    /// Whether every seed that ran passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Simulates every seed of `seeds` (the input, or a generated workload per seed), calling
/// `progress` after each with the seed and whether it passed, and stopping early, between two
/// seeds, once `stop` says so.
pub fn sweep(
    input: Option<&Scenario>,
    seeds: &Seeds,
    base: SimConfig,
    mut progress: impl FnMut(u64, bool),
    stop: impl Fn() -> bool,
) -> SweepSummary {
    let mut summary = SweepSummary::default();
    for seed in seeds.iter() {
        if stop() {
            summary.stopped = true;
            break;
        }
        let config = SimConfig { seed, ..base };
        let generated;
        let scenario = match input {
            Some(scenario) => scenario,
            None => {
                generated = workload(seed, base.propagation);
                &generated
            }
        };
        summary.seeds += 1;
        let report = simulate(scenario, &config);
        summary.faults += report.fault_count();
        summary.simulated_ms += report.simulated_ms;
        let problems = report.problems();
        let passed = problems.is_empty();
        if !passed {
            summary.failures.push(Failure { seed, problems });
        }
        progress(seed, passed);
    }
    summary
}

/// The workload a sweep generates for `seed` when no input is given: 2 to 4 branches, five
/// operations per customer, small balances so that some withdrawals are rejected. With
/// asynchronous propagation, whose guarantees matter to customers that move, each event goes to
/// a branch drawn from the seed.
pub fn workload(seed: u64, propagation: PropagationMode) -> Scenario {
    let branches = 2 + (seed % 3) as u32;
    let spec = WorkloadSpec {
        branches: (1..=branches).collect(),
        ops_per_customer: 5,
        initial_balance: 40,
    };
    let scenario = workload::generate(seed, &spec);
    match propagation {
        PropagationMode::Sync => scenario,
        PropagationMode::Async => workload::roaming(scenario, seed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_and_refuse_what_is_not_a_range() {
        let seeds: Seeds = "3..5".parse().expect("a range");
        assert_eq!(seeds.iter().collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(seeds.count(), 3);
        assert_eq!(seeds.to_string(), "3..5");
        assert_eq!(
            "5..3".parse::<Seeds>(),
            Err(BadSeeds::Empty { first: 5, last: 3 })
        );
        assert_eq!("7".parse::<Seeds>(), Err(BadSeeds::Shape("7".to_string())));
        assert_eq!(
            "1..x".parse::<Seeds>(),
            Err(BadSeeds::NotANumber("x".to_string()))
        );
        assert_eq!(Seeds::new(0, u64::MAX).map(|s| s.count()), Ok(u64::MAX));
    }

    #[test]
    fn a_replay_command_quotes_what_the_shell_would_split() {
        let config = SimConfig {
            seed: 7,
            schedule: Schedule::Concurrent,
            ..SimConfig::default()
        };
        assert_eq!(
            replay_command(Simulated::File("in.json"), &config),
            "lamport-bank simulate in.json --seed 7 --faults none --concurrent"
        );
        assert_eq!(
            replay_command(Simulated::File("my run's.json"), &config),
            r"lamport-bank simulate 'my run'\''s.json' --seed 7 --faults none --concurrent"
        );
    }

    #[test]
    fn a_replay_command_names_asynchronous_propagation_and_its_guarantees() {
        let config = SimConfig {
            seed: 3,
            propagation: PropagationMode::Async,
            guarantees: SessionGuarantees::None,
            ..SimConfig::default()
        };
        assert_eq!(
            replay_command(Simulated::Workload, &config),
            "lamport-bank simulate --workload --seed 3 --faults none --propagation async --session-guarantees none"
        );
    }

    #[test]
    fn a_replay_command_names_every_model_but_the_default() {
        for (model, flag) in [
            (ClockModel::Original, ""),
            (ClockModel::Strict, " --clocks strict"),
            (ClockModel::Messages, " --clocks messages"),
        ] {
            let config = SimConfig {
                seed: 2,
                model,
                ..SimConfig::default()
            };
            assert_eq!(
                replay_command(Simulated::Workload, &config),
                format!("lamport-bank simulate --workload --seed 2 --faults none{flag}")
            );
        }
    }
}
