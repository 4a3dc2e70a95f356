//! Safe-list scrubbing, in the manner of Philter: in free text, a word stays only if it is known
//! to be safe; everything else is redacted. Patterns find identifiers by their shape and miss
//! those they have no pattern for (a relative's name, a street, a foreign surname); a safe-list
//! misses only identifiers that are also ordinary words, at the price of redacting words it does
//! not know (precision, measured by `longitude bench deid`).
//!
//! The list is the user's: a dictionary (one word per line, as Debian's `wamerican` packages
//! write it) and, where wanted, the site's clinical vocabulary. A word written with a capital
//! letter in the list is a proper noun (a name, a place): in text it is never safe when
//! capitalised. The rules per token (a run of letters or digits):
//!
//! - numbers of 5 digits or more (record numbers, phones, ZIP codes, card numbers), and tokens
//!   mixing letters with 4 digits or more, are `[ID]`; shorter numbers (values, doses, years)
//!   stay;
//! - a lower-case word stays if the list has it, else it is `[WORD]`;
//! - a capitalised word that the list has as a proper noun, or does not have at all, is `[NAME]`;
//!   one it has only as an ordinary word stays (a sentence's first word), unless it stands next
//!   to a `[NAME]` (the "Walker" of "Brodie H. Walker"), as does a lone initial;
//! - an all-capitals word of up to 4 letters stays (abbreviations: BP, RA, ECG); a longer one is
//!   judged as its lower-case form.

use std::collections::HashSet;
use std::ops::Range;

/// The words that may stay in free text.
#[derive(Debug, Clone, Default)]
pub struct SafeWords {
    /// Ordinary words, lower case.
    ordinary: HashSet<String>,
    /// Proper nouns, as written (capitalised).
    proper: HashSet<String>,
}

/// Placeholders of the safe-list rule.
const ID: &str = "[ID]";
const NAME: &str = "[NAME]";
const WORD: &str = "[WORD]";

impl SafeWords {
    /// Reads a list: one word per line; blank lines and lines starting with `#` are skipped; a
    /// possessive `'s` ending (as dictionaries list them) is dropped.
    pub fn parse(text: &str) -> Self {
        let mut words = Self::default();
        words.extend(text);
        words
    }

    /// Reads and merges the lists in `paths` (a dictionary, a clinical vocabulary); an error
    /// names the file that could not be read. Lists that name no word at all are refused: a
    /// safe-list of nothing would redact every word of every note.
    pub fn from_files(paths: &[std::path::PathBuf]) -> std::io::Result<Self> {
        let mut words = Self::default();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot read the safe-list {}: {e}", path.display()))
            })?;
            words.extend(&text);
        }
        if !paths.is_empty() && words.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the safe-lists name no word; check --safe-words",
            ));
        }
        Ok(words)
    }

    /// Adds the words of another list (a clinical vocabulary beside the dictionary).
    pub fn extend(&mut self, text: &str) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let word = line.strip_suffix("'s").unwrap_or(line);
            if word.chars().next().is_some_and(char::is_uppercase) {
                // One- and two-letter capitalised entries are symbols ("He", "No", "I"), not names.
                if word.chars().count() > 2 {
                    self.proper.insert(word.to_owned());
                }
            } else {
                self.ordinary.insert(word.to_lowercase());
            }
        }
    }

    /// Words in the list.
    pub fn len(&self) -> usize {
        self.ordinary.len() + self.proper.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The byte ranges of `text` to redact, with their placeholders, in order.
    pub fn spans(&self, text: &str) -> Vec<(Range<usize>, &'static str)> {
        let tokens: Vec<Range<usize>> = tokens(text);
        let word = |i: usize| &text[tokens[i].clone()];
        let mut verdicts: Vec<Option<&'static str>> = tokens.iter().map(|r| self.judge(&text[r.clone()])).collect();
        // Numbers written in groups ("(73) 4746-3459", "730 064 218", "87 47 98"): seven digits
        // or more in all, or six in three groups, are a phone, account or card number, whatever
        // each group's length.
        let mut i = 0;
        while i < tokens.len() {
            let mut j = i;
            let mut digits = 0;
            while j < tokens.len() && is_number(word(j)) && (j == i || gap_is(text, &tokens, j - 1, j, " -().", 3)) {
                digits += word(j).len();
                j += 1;
            }
            if (j > i + 1 && digits >= 7) || (j > i + 2 && digits >= 6) {
                verdicts[i..j].iter_mut().for_each(|v| *v = Some(ID));
            }
            i = j.max(i + 1);
        }
        // Identifiers by their own shape; abbreviations next to one of these are part of it
        // ("PSC 1234, Box 5678, APO AA 12345"), next to anything else they are not ("PO QD").
        let strong: Vec<bool> = verdicts.iter().map(|v| *v == Some(ID)).collect();
        // Neighbours of what was redacted belong to it: the capitalised words, initials and
        // short numbers and abbreviations around a name or number ("Brodie H. Walker",
        // "254 Damvergi Street", "PSC 1234, Box 5678, APO AA"), and the unit cue before a number
        // ("Apt 559").
        for _ in 0..3 {
            for i in 0..tokens.len() {
                if verdicts[i].is_some() {
                    continue;
                }
                let w = word(i);
                // The tag of a name or number right beside this token (not of an unknown word:
                // "The [WORD]" does not make "The" a name).
                // A period joins only an initial to what follows ("H. Walker"), not two sentences.
                let joined = |a: usize, b: usize| {
                    gap_is(text, &tokens, a, b, " ,#", 2)
                        || (gap_is(text, &tokens, a, b, " ,.#", 2) && word(a).chars().count() == 1)
                };
                let near = |k: usize, a: usize, b: usize| verdicts[k].filter(|t| *t != WORD && joined(a, b));
                let before = if i > 0 { near(i - 1, i - 1, i) } else { None };
                let after = if i + 1 < tokens.len() { near(i + 1, i, i + 1) } else { None };
                let beside = before.or(after);
                let short_number = is_number(w) && w.len() <= 4;
                let abbreviation = w.chars().count() <= 4
                    && w.chars().all(char::is_uppercase)
                    && ((i > 0 && strong[i - 1] && joined(i - 1, i))
                        || (i + 1 < tokens.len() && strong[i + 1] && joined(i, i + 1)));
                // A short number beside a name is a street or house number or a day ("254
                // Damvergi Street", "Via Leopardi 83", "10 January"), unless a unit follows it
                // ("Atenolol 50 mg").
                let unit_follows = i + 1 < tokens.len() && UNITS.iter().any(|u| u.eq_ignore_ascii_case(word(i + 1)));
                let number_by_name = short_number && beside == Some(NAME) && !unit_follows;
                // Initials and name particles within a name ("Jennifer B Eiffel", "Gijsbrecht van
                // Hecke").
                let initial = w.chars().count() == 1 && capitalised(w);
                let particle = PARTICLES.contains(&w);
                let cue = UNIT_CUES.iter().any(|c| c.eq_ignore_ascii_case(w))
                    && i + 1 < tokens.len()
                    && is_number(word(i + 1))
                    && gap_is(text, &tokens, i, i + 1, " .#:", 3);
                if cue {
                    verdicts[i] = Some(ID);
                    verdicts[i + 1] = Some(ID);
                } else if number_by_name {
                    verdicts[i] = Some(ID);
                } else if before == Some(NAME) && NAME_SUFFIXES.contains(&w) {
                    // "Gracie Marsh MD", "Philip Weöres III": the name's credentials or generation.
                    verdicts[i] = Some(NAME);
                } else if beside == Some(NAME) && (initial || particle) {
                    verdicts[i] = Some(NAME);
                } else if abbreviation {
                    verdicts[i] = Some(ID);
                } else if beside == Some(NAME) && title_case(w) {
                    verdicts[i] = Some(NAME);
                }
            }
        }
        tokens.into_iter().zip(verdicts).filter_map(|(r, v)| v.map(|tag| (r, tag))).collect()
    }

    /// The placeholder for one token, or `None` if it is safe.
    fn judge(&self, token: &str) -> Option<&'static str> {
        let digits = token.chars().filter(char::is_ascii_digit).count();
        if digits > 0 {
            let letters = token.chars().count() - digits;
            // Letters first ("XW277", "MRN123") is an identifier's shape; digits first is a
            // value with its unit ("500mg") unless the number alone is long.
            let letters_first = token.chars().next().is_some_and(char::is_alphabetic);
            return (digits >= 5 || (letters > 0 && letters_first && digits >= 3) || (letters > 0 && digits >= 4))
                .then_some(ID);
        }
        let lower = token.to_lowercase();
        let upper_count = token.chars().filter(|c| c.is_uppercase()).count();
        let length = token.chars().count();
        if upper_count == length && length >= 2 {
            // All capitals: a name the list knows only as a name goes ("KYLE"); other
            // abbreviations stay (BP, COPD); longer words are judged as words.
            let title: String = lower
                .chars()
                .enumerate()
                .flat_map(|(i, c)| if i == 0 { c.to_uppercase().collect::<Vec<_>>() } else { vec![c] })
                .collect();
            if self.proper.contains(&title) && !self.ordinary.contains(&lower) {
                return Some(NAME);
            }
            if length <= 4 || self.ordinary.contains(&lower) {
                return None;
            }
            return Some(WORD);
        }
        if capitalised(token) {
            // Both a name and a word ("Will", "Brown", "John"): a name, even where it opens a
            // sentence (recall first).
            if self.proper.contains(token) || !self.ordinary.contains(&lower) {
                return Some(NAME);
            }
            return None;
        }
        (!self.ordinary.contains(&lower)).then_some(WORD)
    }
}

/// Units after a number: a dose or a measurement, not an address.
const UNITS: [&str; 22] = [
    "mg", "mcg", "g", "gm", "kg", "ml", "l", "units", "unit", "iu", "tab", "tabs", "tablet", "tablets", "cap", "caps",
    "mmol", "meq", "puffs", "drops", "times", "x",
];

/// Lower-case particles of names.
const PARTICLES: [&str; 14] =
    ["van", "von", "de", "der", "den", "la", "le", "da", "di", "du", "del", "dos", "bin", "al"];

/// Credentials and generations written after a name.
const NAME_SUFFIXES: [&str; 16] =
    ["MD", "DO", "DVM", "DDS", "RN", "NP", "PA", "PhD", "Jr", "Sr", "II", "III", "IV", "Esq", "MBBS", "FRCP"];

/// Words that announce the number of a unit within an address.
const UNIT_CUES: [&str; 8] = ["apt", "suite", "ste", "unit", "box", "room", "floor", "bldg"];

fn is_number(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit())
}

/// Whether the text between tokens `a` and `b` is at most `max` characters, all from `allowed`.
fn gap_is(text: &str, tokens: &[Range<usize>], a: usize, b: usize, allowed: &str, max: usize) -> bool {
    let gap = &text[tokens[a].end..tokens[b].start];
    gap.chars().count() <= max && gap.chars().all(|c| allowed.contains(c))
}

/// A capital letter, then not only capitals ("Walker", not "HEART").
fn title_case(token: &str) -> bool {
    capitalised(token) && token.chars().skip(1).any(char::is_lowercase)
}

fn capitalised(token: &str) -> bool {
    token.chars().next().is_some_and(char::is_uppercase)
}

/// Runs of letters or digits, as byte ranges. An escaped line break or tab written out as text
/// (`\n`, `\r`, `\t`, as exports that flatten notes to one line do) separates tokens: it must not
/// glue an `n` to the number after it.
fn tokens(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        let separator = escaped && matches!(c, 'n' | 'r' | 't');
        escaped = c == '\\';
        if separator {
            if let Some(s) = start.take() {
                out.push(s..i);
            }
            continue;
        }
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(words: &SafeWords, text: &str) -> String {
        let mut out = String::new();
        let mut at = 0;
        for (r, tag) in words.spans(text) {
            out.push_str(&text[at..r.start]);
            out.push_str(tag);
            at = r.end;
        }
        out + &text[at..]
    }

    #[test]
    fn only_known_words_stay() {
        let words = SafeWords::parse(
            "# a dictionary\nthe\nwas\nseen\nwith\nher\ndaughter\nat\nlives\non\nlane\nbrown\nwalker\nMary\nWalker\nBrown\nmetformin\nfor\nmg\nof\nheart\nfailure\napt\nTom's\n",
        );
        assert_eq!(words.len(), 23);
        assert_eq!(
            redact(&words, "The patient was seen with her daughter Csilla at 12 Quarry Lane, MRN 88234511."),
            "The [WORD] was seen with her daughter [NAME] at [ID] [NAME] [NAME], [ID] [ID]."
        );
        assert_eq!(redact(&words, "Mary Brown lives on Walker Lane"), "[NAME] [NAME] lives on [NAME] [NAME]");
        assert_eq!(redact(&words, "Brown was seen"), "[NAME] was seen", "a name even where it opens a sentence");
        assert_eq!(
            redact(&words, "seen with Mary Brown MD"),
            "seen with [NAME] [NAME] [NAME]",
            "credentials go with the name"
        );
        assert_eq!(redact(&words, "seen with 87 47 98"), "seen with [ID] [ID] [ID]", "six digits in three groups");
        assert_eq!(redact(&words, "seen with Brown"), "seen with [NAME]", "a name within one");
        assert_eq!(
            redact(&words, "metformin 500 mg for HEART FAILURE; BP ok"),
            "metformin 500 mg for HEART FAILURE; BP [WORD]"
        );
        assert_eq!(redact(&words, "Brodie H. Walker"), "[NAME] [NAME]. [NAME]");
        assert_eq!(redact(&words, "acct GB34QIRA18451462704828, Tom"), "[WORD] [ID], [NAME]");
        assert_eq!(
            redact(&words, "call (73) 4746-3459 or 730 064 218"),
            "[WORD] ([ID]) [ID]-[ID] [WORD] [ID] [ID] [ID]"
        );
        assert_eq!(redact(&words, "HEART Apt 559"), "HEART [ID] [ID]");
        assert_eq!(redact(&words, r"Tom\n516 466 638\nheart"), r"[NAME]\n[ID] [ID] [ID]\nheart");
        assert_eq!(redact(&words, "metformin 500mg, XW277"), "metformin 500mg, [ID]");
        assert_eq!(redact(&words, "Xanax 50 mg; Jennifer B van Eiffel"), "[NAME] 50 mg; [NAME] [NAME] [WORD] [NAME]");
    }
}
