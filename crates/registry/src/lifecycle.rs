//! A model version's lifecycle: which step may follow which.
//!
//! `registered → validated → approved → deployed → retired`, with `suspended` reachable from
//! every state a model can be used or about to be used in (set by monitoring or an
//! administrator), and left only by a new named approval. Retired is final: an approved model
//! changes only through a new version (as a predetermined change control plan requires).

use serde::{Deserialize, Serialize};

/// Where a version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Registered from a verified, signed bundle; not yet judged.
    Registered,
    /// Passed the gates of a policy.
    Validated,
    /// Approved for use by a named person.
    Approved,
    /// Answering (or shadowing) at one site or more.
    Deployed,
    /// Withdrawn from use pending review.
    Suspended,
    /// Withdrawn for good.
    Retired,
}

/// A step of the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Recorded in the registry.
    Register,
    /// Judged against a policy's gates and passed.
    Validate,
    /// Approved by a named person.
    Approve,
    /// Deployed to a site.
    Deploy,
    /// Suspended.
    Suspend,
    /// Retired.
    Retire,
}

impl State {
    /// The name, as stored.
    pub fn name(self) -> &'static str {
        match self {
            State::Registered => "registered",
            State::Validated => "validated",
            State::Approved => "approved",
            State::Deployed => "deployed",
            State::Suspended => "suspended",
            State::Retired => "retired",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<State> {
        [State::Registered, State::Validated, State::Approved, State::Deployed, State::Suspended, State::Retired]
            .into_iter()
            .find(|s| s.name() == name)
    }

    /// The steps allowed from here.
    pub fn allowed(self) -> &'static [Step] {
        match self {
            State::Registered => &[Step::Validate, Step::Retire],
            State::Validated => &[Step::Validate, Step::Approve, Step::Suspend, Step::Retire],
            State::Approved => &[Step::Deploy, Step::Suspend, Step::Retire],
            State::Deployed => &[Step::Deploy, Step::Suspend, Step::Retire],
            State::Suspended => &[Step::Approve, Step::Retire],
            State::Retired => &[],
        }
    }

    /// The state `step` leads to from here, if it is allowed.
    pub fn after(self, step: Step) -> Option<State> {
        if !self.allowed().contains(&step) {
            return None;
        }
        Some(match step {
            Step::Register => State::Registered,
            Step::Validate => State::Validated,
            Step::Approve => State::Approved,
            Step::Deploy => State::Deployed,
            Step::Suspend => State::Suspended,
            Step::Retire => State::Retired,
        })
    }
}

impl Step {
    /// The name, as stored and as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Register => "register",
            Step::Validate => "validate",
            Step::Approve => "approve",
            Step::Deploy => "deploy",
            Step::Suspend => "suspend",
            Step::Retire => "retire",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_allows_only_its_own_steps() {
        let path = [Step::Validate, Step::Approve, Step::Deploy, Step::Deploy, Step::Retire];
        let mut state = State::Registered;
        for step in path {
            state = state.after(step).unwrap_or_else(|| panic!("{step} from {state}"));
        }
        assert_eq!(state, State::Retired);
        assert!(State::Retired.allowed().is_empty(), "retired is final");
        assert_eq!(State::Registered.after(Step::Approve), None, "no approval before validation");
        assert_eq!(State::Validated.after(Step::Deploy), None, "no deployment before approval");
        assert_eq!(State::Suspended.after(Step::Deploy), None, "a suspended model is re-approved first");
        assert_eq!(State::Suspended.after(Step::Approve), Some(State::Approved));
        for s in
            [State::Registered, State::Validated, State::Approved, State::Deployed, State::Suspended, State::Retired]
        {
            assert_eq!(State::parse(s.name()), Some(s));
        }
    }
}
