//! The built-in sample: the original Python simulator's input, which `lamport-bank` runs when it
//! is given no input, printing the same output the original printed.

use super::Scenario;
use super::input::{self, InputError};

/// How the built-in sample is named in reports, pictures and errors.
pub const NAME: &str = "<built-in sample>";

/// The sample's text, built into the binary.
pub const TEXT: &str = include_str!("../../examples/sample.json");

/// The sample, parsed. It is valid: `scenario::sample` tests say so, so the error is never seen.
pub fn scenario() -> Result<Scenario, InputError> {
    input::parse(NAME, TEXT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_sample_is_valid_with_three_branches_and_three_customers() {
        let scenario = super::scenario().expect("the sample is valid");
        assert_eq!(scenario.branches.len(), 3);
        assert_eq!(scenario.customers.len(), 3);
        assert_eq!(scenario.operations(), 5);
    }
}
