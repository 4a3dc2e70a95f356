//! Identifiers planted on purpose, so that de-identification has real work to do and can be
//! scored: names in several scripts and with accents, addresses with ZIP codes, phone numbers,
//! emails, MRNs, SSN-like numbers. Every value is fictitious; the generator records exactly which
//! it planted (`truth/identifiers.parquet`).

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

const GIVEN_F: [&str; 16] = [
    "María",
    "Zoë",
    "Aisha",
    "Mei",
    "Olivia",
    "Thi Lan",
    "Priya",
    "Chloé",
    "Fatima",
    "Ingrid",
    "Keisha",
    "Ana Sofía",
    "Yuki",
    "Siobhán",
    "Ngozi",
    "Emma",
];
const GIVEN_M: [&str; 16] = [
    "José",
    "Liam",
    "Mohammed",
    "Wei",
    "Noah",
    "Minh",
    "Arjun",
    "François",
    "Kwame",
    "Søren",
    "DeShawn",
    "Juan Pablo",
    "Hiroshi",
    "Seán",
    "Chukwuemeka",
    "Lucas",
];
const FAMILY: [&str; 24] = [
    "García",
    "Nguyễn",
    "Smith",
    "Müller",
    "O'Brien",
    "Johnson",
    "Kowalski",
    "Okafor",
    "Haddad",
    "Wang",
    "Patel",
    "Rodríguez",
    "Søndergaard",
    "Williams",
    "Kim",
    "Brown",
    "Yamamoto",
    "Dubois",
    "Ivanova",
    "Mensah",
    "López",
    "Schäfer",
    "Murphy",
    "Da Silva",
];
const STREETS: [&str; 12] = [
    "Maple Avenue",
    "Oak Street",
    "Calle del Sol",
    "Elm Drive",
    "Riverside Road",
    "Hillcrest Lane",
    "Cedar Court",
    "Lakeview Boulevard",
    "Church Street",
    "Pine Ridge Way",
    "Market Street",
    "Rue Lafayette",
];
/// (city, state, ZIP prefix) — real three-digit ZIP areas, including small ones Safe Harbor maps to 000.
const PLACES: [(&str, &str, &str); 10] = [
    ("Rochester", "MN", "559"),
    ("Minneapolis", "MN", "554"),
    ("Phoenix", "AZ", "850"),
    ("Jacksonville", "FL", "322"),
    ("La Crosse", "WI", "546"),
    ("Eau Claire", "WI", "547"),
    ("Rawlins", "WY", "823"),
    ("Claremont", "NH", "036"),
    ("Anchorage", "AK", "995"),
    ("Tucson", "AZ", "857"),
];

/// One patient's direct identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Given name(s).
    pub given: String,
    /// Family name.
    pub family: String,
    /// Medical record number.
    pub mrn: String,
    /// Social-security-like number (NNN-NN-NNNN; area 9xx, never issued).
    pub ssn: String,
    /// Phone number.
    pub phone: String,
    /// Email address.
    pub email: String,
    /// Street address line.
    pub street: String,
    /// City.
    pub city: String,
    /// State.
    pub state: String,
    /// Five-digit ZIP code.
    pub zip: String,
}

impl Identity {
    /// Every planted value, labelled by kind (what de-identification must remove).
    pub fn planted(&self) -> [(&'static str, &str); 10] {
        [
            ("given_name", &self.given),
            ("family_name", &self.family),
            ("mrn", &self.mrn),
            ("ssn", &self.ssn),
            ("phone", &self.phone),
            ("email", &self.email),
            ("street", &self.street),
            ("city", &self.city),
            ("zip", &self.zip),
            ("state", &self.state),
        ]
    }
}

fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => Some('a'),
            'é' | 'è' | 'ë' | 'ê' | 'ễ' => Some('e'),
            'í' | 'ï' => Some('i'),
            'ó' | 'ö' | 'ø' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ç' => Some('c'),
            'ñ' => Some('n'),
            'ă' => Some('a'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Draws an identity for `subject_id`.
pub fn draw(rng: &mut ChaCha8Rng, female: bool, subject_id: i64) -> Identity {
    let given =
        if female { GIVEN_F[rng.random_range(0..GIVEN_F.len())] } else { GIVEN_M[rng.random_range(0..GIVEN_M.len())] };
    let family = FAMILY[rng.random_range(0..FAMILY.len())];
    let (city, state, zip3) = PLACES[rng.random_range(0..PLACES.len())];
    let street = format!("{} {}", rng.random_range(1..9999), STREETS[rng.random_range(0..STREETS.len())]);
    Identity {
        given: given.to_owned(),
        family: family.to_owned(),
        mrn: format!("MRN{:08}", (subject_id * 7919) % 100_000_000),
        ssn: format!(
            "9{:02}-{:02}-{:04}",
            rng.random_range(0..100),
            rng.random_range(1..100),
            rng.random_range(1..10_000)
        ),
        phone: format!("({}) 555-{:04}", rng.random_range(201..990), rng.random_range(0..10_000)),
        email: format!("{}.{}{}@example.com", ascii_slug(given), ascii_slug(family), rng.random_range(1..100)),
        street,
        city: city.to_owned(),
        state: state.to_owned(),
        zip: format!("{zip3}{:02}", rng.random_range(1..100)),
    }
}
