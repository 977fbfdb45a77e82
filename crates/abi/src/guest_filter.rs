//! The guest's own seccomp profile (an OCI config's `linux.seccomp`, such
//! as the default profile Docker passes), enforced by the oxbox kernel.
//!
//! A host seccomp filter cannot do this job: a guest syscall that went
//! through a patched site never reaches the host, and the ones that do
//! are the kernel's own. So the runtime translates the profile into a
//! [`GuestFilter`] and hands it to every kernel of the container in a
//! sealed memory file at [`crate::layout::GUEST_FILTER_FD`]; the kernel
//! checks each guest call against it before serving it, as Linux checks a
//! filter at syscall entry.
//!
//! The semantics are libseccomp's, restricted to what profiles use: rules
//! for a syscall are tried in order and the first one whose argument
//! conditions all hold decides; a syscall no rule matches gets the
//! default action. The text form is one rule a line:
//!
//! ```text
//! oxbox-guest-filter/1
//! default errno 1
//! rule 0 allow
//! rule 135 allow a0 == 0
//! rule 56 errno 1 a0 &= 0x7e020000 0x10000000
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// First line of the text form.
const MAGIC: &str = "oxbox-guest-filter/1";

/// What happens to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// It is served.
    Allow,
    /// It fails with this errno, unserved.
    Errno(u16),
    /// The process is killed by `SIGSYS`, as `SCMP_ACT_KILL_PROCESS`.
    Kill,
}

/// How an argument is compared (`SCMP_CMP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `(arg & value) == value_two`
    MaskedEq,
}

impl Op {
    const NAMES: [(Op, &'static str); 7] = [
        (Op::Ne, "!="),
        (Op::Lt, "<"),
        (Op::Le, "<="),
        (Op::Eq, "=="),
        (Op::Ge, ">="),
        (Op::Gt, ">"),
        (Op::MaskedEq, "&="),
    ];

    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(op, _)| *op == self)
            .expect("every op named")
            .1
    }

    fn parse(text: &str) -> Option<Op> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == text)
            .map(|(op, _)| *op)
    }
}

/// One argument condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    /// Argument index, 0 to 5.
    pub arg: u8,
    /// Comparison.
    pub op: Op,
    /// Operand (the mask for [`Op::MaskedEq`]).
    pub value: u64,
    /// Second operand of [`Op::MaskedEq`].
    pub value_two: u64,
}

impl Cond {
    fn holds(&self, args: &[u64; 6]) -> bool {
        let a = args[self.arg as usize];
        match self.op {
            Op::Ne => a != self.value,
            Op::Lt => a < self.value,
            Op::Le => a <= self.value,
            Op::Eq => a == self.value,
            Op::Ge => a >= self.value,
            Op::Gt => a > self.value,
            Op::MaskedEq => a & self.value == self.value_two,
        }
    }
}

/// A rule: a syscall number, its action, and the conditions under which
/// it applies (none: always).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Syscall number (x86-64).
    pub nr: u32,
    /// What happens when the conditions hold.
    pub action: Action,
    /// Conditions, all of which must hold.
    pub conds: Vec<Cond>,
}

/// A guest seccomp profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestFilter {
    /// The action for calls no rule matches.
    pub default: Action,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// A malformed text form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError(pub String);

impl GuestFilter {
    /// The action for call `nr` with `args`.
    pub fn evaluate(&self, nr: u32, args: &[u64; 6]) -> Action {
        self.rules
            .iter()
            .filter(|rule| rule.nr == nr)
            .find(|rule| rule.conds.iter().all(|c| c.holds(args)))
            .map_or(self.default, |rule| rule.action)
    }

    /// Whether every rule for `nr` is unconditional and agrees, so the
    /// verdict needs no arguments: `Some(action)` then.
    pub fn verdict_without_args(&self, nr: u32) -> Option<Action> {
        let mut rules = self.rules.iter().filter(|rule| rule.nr == nr);
        match rules.next() {
            None => Some(self.default),
            Some(first) if first.conds.is_empty() => Some(first.action),
            Some(_) => None,
        }
    }

    /// The text form.
    pub fn encode(&self) -> String {
        let mut text = format!("{MAGIC}\ndefault {}\n", action_text(self.default));
        for rule in &self.rules {
            text += &format!("rule {} {}", rule.nr, action_text(rule.action));
            for c in &rule.conds {
                text += &format!(" a{} {} {:#x}", c.arg, c.op.name(), c.value);
                if c.op == Op::MaskedEq {
                    text += &format!(" {:#x}", c.value_two);
                }
            }
            text.push('\n');
        }
        text
    }

    /// Parses the text form.
    pub fn decode(text: &str) -> Result<GuestFilter, FilterError> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(FilterError(format!("not a guest filter (no {MAGIC})")));
        }
        let mut default = None;
        let mut rules = Vec::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let bad = || FilterError(format!("bad line {line:?}"));
            let mut words = line.split_whitespace();
            match words.next() {
                Some("default") => default = Some(parse_action(&mut words).ok_or_else(bad)?),
                Some("rule") => {
                    let nr = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
                    let action = parse_action(&mut words).ok_or_else(bad)?;
                    let mut conds = Vec::new();
                    while let Some(arg) = words.next() {
                        conds.push(parse_cond(arg, &mut words).ok_or_else(bad)?);
                    }
                    rules.push(Rule { nr, action, conds });
                }
                _ => return Err(bad()),
            }
        }
        let default = default.ok_or_else(|| FilterError("no default action".into()))?;
        Ok(GuestFilter { default, rules })
    }
}

fn action_text(action: Action) -> String {
    match action {
        Action::Allow => "allow".into(),
        Action::Errno(e) => format!("errno {e}"),
        Action::Kill => "kill".into(),
    }
}

fn parse_action<'a>(words: &mut impl Iterator<Item = &'a str>) -> Option<Action> {
    match words.next()? {
        "allow" => Some(Action::Allow),
        "kill" => Some(Action::Kill),
        "errno" => words.next()?.parse().ok().map(Action::Errno),
        _ => None,
    }
}

fn parse_cond<'a>(arg: &str, words: &mut impl Iterator<Item = &'a str>) -> Option<Cond> {
    let arg: u8 = arg.strip_prefix('a')?.parse().ok().filter(|a| *a < 6)?;
    let op = Op::parse(words.next()?)?;
    let number = |w: &str| u64::from_str_radix(w.strip_prefix("0x")?, 16).ok();
    let value = number(words.next()?)?;
    let value_two = if op == Op::MaskedEq {
        number(words.next()?)?
    } else {
        0
    };
    Some(Cond {
        arg,
        op,
        value,
        value_two,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> GuestFilter {
        GuestFilter {
            default: Action::Errno(1),
            rules: vec![
                Rule {
                    nr: 0,
                    action: Action::Allow,
                    conds: vec![],
                },
                Rule {
                    nr: 135,
                    action: Action::Allow,
                    conds: vec![Cond {
                        arg: 0,
                        op: Op::Eq,
                        value: 0,
                        value_two: 0,
                    }],
                },
                Rule {
                    nr: 56,
                    action: Action::Allow,
                    conds: vec![Cond {
                        arg: 0,
                        op: Op::MaskedEq,
                        value: 0x7e02_0000,
                        value_two: 0,
                    }],
                },
                Rule {
                    nr: 62,
                    action: Action::Kill,
                    conds: vec![],
                },
            ],
        }
    }

    #[test]
    fn the_text_form_round_trips() {
        let filter = sample();
        let text = filter.encode();
        assert!(text.starts_with("oxbox-guest-filter/1\ndefault errno 1\n"));
        assert!(text.contains("rule 56 allow a0 &= 0x7e020000 0x0\n"));
        assert_eq!(GuestFilter::decode(&text), Ok(filter));
    }

    #[test]
    fn the_first_matching_rule_decides_else_the_default() {
        let filter = sample();
        let args = |a0| [a0, 0, 0, 0, 0, 0];
        assert_eq!(filter.evaluate(0, &args(7)), Action::Allow);
        assert_eq!(filter.evaluate(135, &args(0)), Action::Allow);
        assert_eq!(filter.evaluate(135, &args(8)), Action::Errno(1));
        // clone without namespace flags, then with CLONE_NEWNS.
        assert_eq!(filter.evaluate(56, &args(0x11)), Action::Allow);
        assert_eq!(filter.evaluate(56, &args(0x2_0011)), Action::Errno(1));
        assert_eq!(filter.evaluate(62, &args(0)), Action::Kill);
        assert_eq!(filter.evaluate(999, &args(0)), Action::Errno(1));
    }

    #[test]
    fn verdicts_without_arguments_only_for_unconditional_syscalls() {
        let filter = sample();
        assert_eq!(filter.verdict_without_args(0), Some(Action::Allow));
        assert_eq!(filter.verdict_without_args(1), Some(Action::Errno(1)));
        assert_eq!(filter.verdict_without_args(135), None);
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in [
            "",
            "oxbox-guest-filter/1\n",
            "oxbox-guest-filter/1\ndefault maybe\n",
            "oxbox-guest-filter/1\ndefault allow\nrule x allow\n",
            "oxbox-guest-filter/1\ndefault allow\nrule 1 allow a7 == 0x0\n",
            "oxbox-guest-filter/1\ndefault allow\nrule 1 allow a0 ~ 0x0\n",
            "oxbox-guest-filter/1\ndefault allow\nrule 1 allow a0 &= 0x1\n",
        ] {
            assert!(GuestFilter::decode(bad).is_err(), "{bad:?}");
        }
    }
}
