//! Free-text scrubbing: the patient's own identifiers, then patterns, replaced by typed
//! placeholders (`[NAME]`, `[DATE]`, `[PHONE]`, …).

use std::collections::BTreeMap;

use fhir::{IdentifierKind, Identifiers};

use crate::SafeWords;
use regex::{Regex, RegexBuilder};

/// Compiled patterns, built once and shared.
pub struct Scrubber {
    /// Placeholder, pattern, and the capture group that is the identifier (0: the whole match;
    /// a context pattern such as "daughter Mary" removes the name, not the word "daughter").
    patterns: Vec<(&'static str, Regex, usize)>,
    /// With a safe-list, every word it does not know is redacted too ([`SafeWords`]).
    safe_words: Option<SafeWords>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber").field("patterns", &self.patterns.len()).finish()
    }
}

fn placeholder(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::Name => "[NAME]",
        IdentifierKind::Phone => "[PHONE]",
        IdentifierKind::Email => "[EMAIL]",
        IdentifierKind::Id => "[ID]",
        IdentifierKind::Address => "[ADDRESS]",
        IdentifierKind::City => "[LOCATION]",
        IdentifierKind::Zip => "[ZIP]",
    }
}

const MONTHS: &str = "(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";

/// Patterns that find an identifier by what stands beside it, the identifier being capture group
/// 1 (the cue stays): relatives named beside the patient, streets, names announced as such or
/// followed by credentials, letter-first record numbers, months. `longitude bench deid` measures
/// what they buy (docs/benchmarks/deid.md).
fn context_patterns() -> Vec<(&'static str, String)> {
    const SUFFIXES: &str = "Street|St|Avenue|Ave|Road|Rd|Drive|Dr|Lane|Ln|Boulevard|Blvd|Court|Ct|Way|Place|Pl|\
        Crescent|Terrace|Row|Heights|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Alley|Close";
    // Street types written before the street's name (French, Italian, Spanish, Portuguese,
    // Polish); capitalised, so that "via" and "place" in a sentence are not cues.
    const STREETS_BEFORE: &str = "Rue|Rua|Via|Viale|Calle|Avenida|Avda\\.|Avenue|Chemin|Boulevard|Piazza|Strada|\
        Corso|Largo|Travessa|Rúa|ul\\.|ulica|Ulica";
    // Street types written after it, before the number (German, Scandinavian, Hungarian, Dutch).
    const STREETS_AFTER: &str = "Str\\.|Straße|Strasse|gate|gata|gaten|veg|vei|veien|vegen|vej|gade|väg|vägen|\
        ulica|utca|útja|út|tér|straat|laan|weg|plein|katu|tie";
    const PARTICLES: &str = "de|du|des|la|le|di|da|del|della|dos|das|van|von";
    const RELATIVES: &str = "wife|husband|spouse|partner|daughter|son|mother|father|mom|dad|brother|sister|\
        grandmother|grandfather|grandson|granddaughter|aunt|uncle|niece|nephew|cousin|friend|neighbou?r|\
        caregiver|guardian|boyfriend|girlfriend|fianc[ée]e?";
    // Capitalised words and initials on one line.
    const NAME: &str = r"[A-Z][\p{L}'-]+(?:[ \t]+(?:[A-Z][\p{L}'-]+|[A-Z]\.?)){0,3}";
    const CUES: &str = concat!(
        r"name\s+is|name\s*:|patient\s*:|pt\s*:|pcp\s*:|attending\s*:|cc\s*:|",
        r"(?:signed|dictated|seen|directed|referred)\s+by\s*:?"
    );
    const CREDENTIALS: &str = r"M\.D\.|MD|D\.O\.|DO|R\.N\.|RN|N\.P\.|NP|PA-C|Ph\.D\.|PhD";
    const MONTH_NAMES: &str = "January|February|March|April|June|July|August|September|October|November|December";
    vec![
        // A house number (a flat number may stand before it), capitalised words and a street type:
        // "254 Damvergi Street", "627 154 Dodson Street".
        (
            "[ADDRESS]",
            format!(r"\b(\d{{1,6}}[A-Za-z]?(?:\s+\d{{1,6}})?(?:\s+[A-Z][\p{{L}}'.-]*){{1,4}}\s+(?:{SUFFIXES})\b\.?)"),
        ),
        // A street type first, then the street's name and its number: "Via Leopardi 83", "Rue de
        // Bouillon 316", "Calle Proc. San Sebastián 1".
        (
            "[ADDRESS]",
            format!(
                r"\b((?:{STREETS_BEFORE})\s+(?:(?:{PARTICLES})\s+)*\p{{Lu}}[\p{{Ll}}'][\p{{L}}'.-]*(?:\s+(?:(?:{PARTICLES})\s+)*\p{{Lu}}[\p{{L}}'.-]*){{0,3}}(?:,?\s+\d{{1,5}}[A-Za-z]?\b)?)"
            ),
        ),
        // A house number and a street type in lower case, as French and Polish addresses write
        // them: the rest of the line is the street ("8018 93 rue des six frères Ruellan").
        (
            "[ADDRESS]",
            r"\b(\d{1,6}(?:\s+\d{1,6})?\s+(?:rue|avenue|chemin|calle|avenida|rua|ul\.)\s+[^\n,;.]{1,40})".into(),
        ),
        // The street's name, then its type and number, as much of Europe writes it: "Koepenicker
        // Str. 38", "Ingvald Scheys gate 155", "Bécsi utca 53", "Dózsa György út 78".
        (
            "[ADDRESS]",
            format!(
                r"\b(\p{{Lu}}[\p{{L}}'-]+(?:\s+[\p{{L}}'-]+){{0,3}}\s+(?:{STREETS_AFTER})\s+\d{{1,5}}[A-Za-z]?\b)"
            ),
        ),
        // An intersection: "the corner of 99 Derry Street and Lillestøl Stream".
        (
            "[ADDRESS]",
            r"\b((?i:the\s+corner\s+of)\s+[\d\p{Lu}][^\n,;]{0,60}?\s+and\s+(?:\d{1,6}\s+)?\p{Lu}[\p{L}'-]+(?:\s+\p{Lu}[\p{L}'.-]*){0,3})"
                .into(),
        ),
        // Relatives and others named beside the patient: "seen with daughter Mary Ellen".
        ("[NAME]", format!(r"(?i:\b(?:{RELATIVES}))(?:'s)?,?\s+(?:(?i:named|is|was)\s+)?({NAME})")),
        // A name announced as one: "My name is Sofia", "NAME: Villegas, Yosef", "Signed by:".
        ("[NAME]", format!(r"(?i:\b(?:{CUES}))\s*({NAME}(?:,[ \t]*{NAME})?)")),
        // A name with its credentials: "Gilbert P. Perez, M.D.", "FILBERT BRIGHT, MD".
        ("[NAME]", format!(r"({NAME}),?[ \t]+(?:{CREDENTIALS})(?:\W|$)")),
        // Letters then digits, in capitals ("XW277/90683"): a record or dictation number.
        ("[ID]", r"\b([A-Z]{1,3}\d{3,}(?:/\d+)?)\b".into()),
        // A month named alone is a date element (Safe Harbor keeps years only); "May" with a day.
        ("[DATE]", format!(r"\b({MONTH_NAMES}|May\s+\d{{1,2}}\b)")),
    ]
}

/// Patterns that find an identifier by its own shape; case does not matter.
fn shape_patterns() -> Vec<(&'static str, String)> {
    vec![
        ("[EMAIL]", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}".into()),
        ("[URL]", r"(?:https?://|www\.)\S+".into()),
        ("[SSN]", r"\b\d{3}-\d{2}-\d{4}\b".into()),
        // With an extension or without: "650-752-7354x549", "(650) 752 7354 ext. 12".
        ("[PHONE]", r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}(?:\s?(?:x|ext\.?)\s?\d{1,6})?\b".into()),
        ("[ID]", r"\b(?:MRN|MR#|MR:|record(?:\s+number)?|acct|account)\s*[:#]?\s*[A-Za-z]*\d[\w-]*".into()),
        ("[ID]", r"\bMRN\d+\b".into()),
        ("[IP]", r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b".into()),
        // IPv6: four or more groups of hex digits joined by colons (a time has three at most).
        ("[IP]", r"\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b".into()),
        ("[DATE]", format!(r"\b{MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b")),
        ("[DATE]", format!(r"\b\d{{1,2}}\s+{MONTHS}\.?,?\s+\d{{4}}\b")),
        ("[DATE]", r"\b\d{1,2}[/-]\d{1,2}[/-]\d{2,4}\b".into()),
        ("[DATE]", r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}[\d:.]*(?:Z|[+-]\d{2}:?\d{2})?)?\b".into()),
        ("[ZIP]", r"\b\d{5}(?:-\d{4})?\b".into()),
        // Post office boxes: "P.O. Box 63", "PO Box 12", "Postbox 78".
        ("[ADDRESS]", r"\b(?:P\.?\s?O\.?\s*Box|Post\s?box|Post\s+Office\s+Box)\s*#?\s*\d{1,6}\b".into()),
        // Military mail (a US address, whatever the ship or unit): "PSC 2322, Box 6025 APO AA
        // 88307", "Unit 4670 Box 6562 DPO AA 17229", "USNS Cobb FPO AP 24140".
        (
            "[ADDRESS]",
            r"\b(?:(?:PSC|CMR|Unit)\s+\d{1,5},?\s+Box\s+\d{1,5}|(?:USNS|USNV|USS|USCGC)\s+[\p{L}'-]+),?\s+(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5}\b"
                .into(),
        ),
        ("[NAME]", r"\b(?:Dr|Mr|Mrs|Ms|Mx|Miss)\.?(?:/(?:Mr|Mrs|Ms)\.?)?\s+[A-Z][\p{L}'-]+".into()),
        // Numbers in three or more hyphenated groups ("560-40-78-5"): an identifier's shape
        // (after the dates, which it would also match).
        ("[ID]", r"\b\d{2,}(?:-\d+){2,}\b".into()),
    ]
}

/// `text` with each written-out line break or tab (a backslash, then `n`, `r` or `t`) replaced
/// by a space and the character it stands for: two bytes for two, so offsets keep.
fn written_out_breaks(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\\') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let escaped = match (c, chars.peek()) {
            ('\\', Some('n')) => Some('\n'),
            ('\\', Some('r')) => Some('\r'),
            ('\\', Some('t')) => Some('\t'),
            _ => None,
        };
        match escaped {
            Some(e) => {
                chars.next();
                out.push(' ');
                out.push(e);
            }
            None => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl Default for Scrubber {
    fn default() -> Self {
        Self::new()
    }
}

impl Scrubber {
    /// Compiles the patterns.
    pub fn new() -> Self {
        let mut patterns: Vec<(&'static str, Regex, usize)> = shape_patterns()
            .into_iter()
            .filter_map(|(tag, re)| RegexBuilder::new(&re).case_insensitive(true).build().ok().map(|r| (tag, r, 0)))
            .collect();
        // Context patterns: a cue word (any case) and the identifier after it (group 1), whose
        // capital letters matter.
        for (tag, re) in context_patterns() {
            if let Ok(r) = Regex::new(&re) {
                patterns.push((tag, r, 1));
            }
        }
        Self { patterns, safe_words: None }
    }

    /// The scrubber that also redacts every word `words` does not know (Philter's rule).
    pub fn with_safe_words(mut self, words: SafeWords) -> Self {
        self.safe_words = Some(words);
        // Month and day, or month and two-digit year ("2/18", "3/80"): too often a score ("5/10"
        // pain) for the default patterns, redacted where recall comes first.
        if let Ok(re) = Regex::new(r"\b\d{1,2}/\d{2}\b") {
            self.patterns.push(("[DATE]", re, 0));
        }
        self
    }

    /// The safe-list in use, if any.
    pub fn safe_words(&self) -> Option<&SafeWords> {
        self.safe_words.as_ref()
    }

    /// Compiles the literal patterns of one patient's identifiers into one case-insensitive
    /// regex (a named group per kind, longest values first). Build it once per patient, use it for
    /// every note of that patient.
    pub fn for_patient(&self, identifiers: Option<&Identifiers>) -> PatientScrubber<'_> {
        let mut by_kind: BTreeMap<IdentifierKind, Vec<&str>> = BTreeMap::new();
        for (kind, value) in identifiers.map(|i| i.values.as_slice()).unwrap_or_default() {
            if value.chars().count() >= 2 {
                by_kind.entry(*kind).or_default().push(value);
            }
        }
        let mut kinds = Vec::new();
        let mut groups = Vec::new();
        for (kind, mut values) in by_kind {
            values.sort_by_key(|v| std::cmp::Reverse(v.len()));
            values.dedup();
            let alternatives: Vec<String> = values
                .iter()
                .map(|v| {
                    let escaped = regex::escape(v);
                    if v.chars().all(char::is_alphanumeric) { format!(r"\b{escaped}\b") } else { escaped }
                })
                .collect();
            groups.push(format!("(?P<k{}>{})", kinds.len(), alternatives.join("|")));
            kinds.push(placeholder(kind));
        }
        let own = (!groups.is_empty())
            .then(|| RegexBuilder::new(&groups.join("|")).case_insensitive(true).build().ok())
            .flatten();
        PatientScrubber { own, kinds, shared: self }
    }

    /// Scrubs `text` of `identifiers` and of the patterns (see [`Scrubber::for_patient`] to scrub
    /// many texts of one patient); counts replacements by placeholder into `counts`.
    pub fn scrub(&self, text: &str, identifiers: Option<&Identifiers>, counts: &mut BTreeMap<String, u64>) -> String {
        self.for_patient(identifiers).scrub(text, counts)
    }
}

/// A scrubber specialised to one patient's identifiers.
pub struct PatientScrubber<'a> {
    own: Option<Regex>,
    kinds: Vec<&'static str>,
    shared: &'a Scrubber,
}

impl PatientScrubber<'_> {
    /// What would be replaced in `text`: byte ranges with their placeholders, sorted and not
    /// overlapping. The patient's own identifiers are found first, then each shared pattern in
    /// turn, all on the original text; where two finds overlap they merge under the earlier's
    /// placeholder, so a later pattern can only widen what is removed.
    pub fn spans(&self, text: &str) -> Vec<(std::ops::Range<usize>, &'static str)> {
        // Exports that flatten a note to one line write its breaks out (`\n`): read them as
        // breaks, so that "Address:\nPSC 2221" is not the word "nPSC". Same length, same offsets.
        let unescaped = written_out_breaks(text);
        let text: &str = &unescaped;
        let mut found: Vec<(std::ops::Range<usize>, usize, &'static str)> = Vec::new();
        if let Some(re) = &self.own {
            for caps in re.captures_iter(text) {
                let Some(m) = caps.get(0) else { continue };
                let tag = (0..self.kinds.len())
                    .find(|k| caps.name(&format!("k{k}")).is_some())
                    .map_or("[REDACTED]", |k| self.kinds[k]);
                found.push((m.range(), 0, tag));
            }
        }
        for (rank, (tag, re, group)) in self.shared.patterns.iter().enumerate() {
            for caps in re.captures_iter(text) {
                if let Some(m) = caps.get(*group) {
                    found.push((m.range(), rank + 1, *tag));
                }
            }
        }
        if let Some(words) = &self.shared.safe_words {
            let rank = self.shared.patterns.len() + 1;
            found.extend(words.spans(text).into_iter().map(|(r, tag)| (r, rank, tag)));
        }
        found.sort_by_key(|(r, rank, _)| (r.start, *rank));
        let mut merged: Vec<(std::ops::Range<usize>, usize, &'static str)> = Vec::with_capacity(found.len());
        for (range, rank, tag) in found {
            match merged.last_mut() {
                Some(last) if range.start < last.0.end => {
                    last.0.end = last.0.end.max(range.end);
                    if rank < last.1 {
                        last.1 = rank;
                        last.2 = tag;
                    }
                }
                _ => merged.push((range, rank, tag)),
            }
        }
        merged.into_iter().filter(|(r, _, _)| !r.is_empty()).map(|(r, _, tag)| (r, tag)).collect()
    }

    /// Scrubs the patient's own identifiers and the shared patterns ([`PatientScrubber::spans`]),
    /// each replaced by its placeholder; counts replacements by placeholder into `counts`.
    pub fn scrub(&self, text: &str, counts: &mut BTreeMap<String, u64>) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (range, tag) in self.spans(text) {
            out.push_str(&text[at..range.start]);
            out.push_str(tag);
            *counts.entry(tag.to_owned()).or_default() += 1;
            at = range.end;
        }
        out.push_str(&text[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(Scrubber::new().patterns.len(), shape_patterns().len() + context_patterns().len());
    }

    #[test]
    fn addresses_as_the_world_writes_them() {
        let s = Scrubber::new();
        let mut counts = BTreeMap::new();
        let out = s.scrub(
            "Mail to P.O. Box 63 or PSC 2322, Box 6025 APO AA 88307 or USNS Cobb FPO AP 24140. Lives at Via Leopardi 83, \
             then Koepenicker Str. 38 and Ingvald Scheys gate 155, near 627 154 Dodson Street, at the corner of 99 Derry \
             Street and Lillestøl Stream, 8018 93 rue des six frères Ruellan. Call 650-752-7354x549. Fed via PEG tube; place 2 tablets under the tongue; \
             the corner of the mouth is dry.",
            None,
            &mut counts,
        );
        for leaked in [
            "Box 63", "2322", "6025", "88307", "Cobb", "Leopardi", "83", "38", "155", "627", "Derry", "Lillest",
            "7354", "549",
        ] {
            assert!(!out.contains(leaked), "{leaked} left in: {out}");
        }
        let flattened = s.scrub("Address:\\nPSC 2221, Box 9693 APO AA 76936\\nPhone: 439 4166", None, &mut counts);
        assert!(!flattened.contains("2221") && flattened.starts_with("Address:"), "{flattened}");
        for kept in ["Fed via PEG tube", "place 2 tablets", "the corner of the mouth"] {
            assert!(out.contains(kept), "{kept} lost: {out}");
        }
    }

    #[test]
    fn context_finds_relatives_streets_and_announced_names() {
        let s = Scrubber::new();
        let mut counts = BTreeMap::new();
        let out = s.scrub(
            "Seen with her daughter Mary Ellen and son, Tomasz. Lives at 254 Damvergi Street. My name is Sofia B. Lind. \
             Signed by: Okafor. On 2010-12-23 12:14:47.6637 HbA1c 6.5%, BP 120/80, 3 tablets daily. \
             From c8d5:7717:9055:a36f:4aa5:f9d4:335f:2f59 at 10:30.",
            None,
            &mut counts,
        );
        for leaked in ["Mary", "Ellen", "Tomasz", "254", "Damvergi", "Sofia", "Lind", "Okafor", "12:14", "7717"] {
            assert!(!out.contains(leaked), "{leaked} left in: {out}");
        }
        for kept in ["daughter", "son", "Lives at", "HbA1c 6.5%", "BP 120/80", "3 tablets daily", "at 10:30"] {
            assert!(out.contains(kept), "{kept} lost: {out}");
        }
    }

    #[test]
    fn patterns_and_own_identifiers() {
        let s = Scrubber::new();
        let ids = Identifiers {
            values: vec![(IdentifierKind::Name, "Zoë".into()), (IdentifierKind::Name, "Nguyễn".into())],
            ..Default::default()
        };
        let mut counts = BTreeMap::new();
        let out = s.scrub(
            "Zoë NGUYỄN seen 03/04/2019 and March 4, 2019 by Dr. Okafor; call (555) 555-1234, zoe@x.org, SSN 900-12-3456, MRN00012345, ZIP 55901. HbA1c 6.5%.",
            Some(&ids),
            &mut counts,
        );
        for leaked in ["Zoë", "NGUY", "03/04", "March", "Okafor", "555-1234", "zoe@", "900-12", "00012345", "55901"] {
            assert!(!out.contains(leaked), "{leaked} left in: {out}");
        }
        assert!(out.contains("HbA1c 6.5%"), "clinical content kept: {out}");
        assert!(out.contains("[NAME] [NAME] seen [DATE] and [DATE]"), "{out}");
        assert!(counts["[DATE]"] >= 2);
    }
}
