//! Keyed pseudonyms: research IDs for patients and visits, and replacement UIDs.
//!
//! Every pseudonym is an HMAC-SHA256 over the site secret with a domain label
//! ("patient", "visit", "uid"), so the same input maps to the same output across
//! daily exports made with the same secret, while nobody without the secret can
//! recompute it from a patient ID (a plain hash could be reversed by guessing IDs).
//! The DICOM and EHR sides call the same functions: that is what links them.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// PBKDF2 rounds that turn the passphrase into the HMAC key: guessing the passphrase
/// offline costs this much per try, while an export pays it once.
const KDF_ROUNDS: u32 = 100_000;
const KDF_SALT: &[u8] = b"mip-data-capture/site-secret/v1";

/// Crockford's base32 alphabet: upper case, no I, L, O, U (unambiguous when read aloud).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters after the one-letter prefix of a research ID: 15 × 5 = 75 bits,
/// and with the prefix 16 characters, the maximum of a DICOM SH value.
const ID_CHARS: usize = 15;

/// The derived key of one site secret. Cheap to clone; never printed.
#[derive(Clone)]
pub struct Keyring {
    key: [u8; 32],
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(<secret>)")
    }
}

impl Keyring {
    /// Derives the key from the site secret (the passphrase's bytes, or a key file's content).
    /// Trailing line breaks are not part of the secret, so a key file edited by hand still works.
    pub fn from_secret(secret: &[u8]) -> Keyring {
        let mut end = secret.len();
        while end > 0 && matches!(secret[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(&secret[..end], KDF_SALT, KDF_ROUNDS, &mut key);
        Keyring { key }
    }

    fn digest(&self, domain: &str, parts: &[&str]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(domain.as_bytes());
        for part in parts {
            // Length-prefixed so that ("ab","c") and ("a","bc") never collide.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// The research patient ID (`P` + 15 base32 characters) of a clinical patient ID.
    /// The ID is compared after trimming the blanks that DICOM and spreadsheets pad with.
    pub fn patient(&self, patient_id: &str) -> String {
        research_id('P', &self.digest("patient", &[patient_id.trim()]))
    }

    /// The scan_research_id (`V` + 15 base32 characters) of one visit of one patient;
    /// `visit_key` is what identifies the visit (the study date, or a Study Instance UID).
    pub fn visit(&self, patient_id: &str, visit_key: &str) -> String {
        research_id('V', &self.digest("visit", &[patient_id.trim(), visit_key.trim()]))
    }

    /// The per-patient date offset of the `shift` date policy, in days: between one and
    /// about three years back, never zero, the same for the DICOM and the EHR side.
    pub fn date_shift(&self, patient_id: &str) -> i64 {
        let d = self.digest("date-shift", &[patient_id.trim()]);
        let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as i64;
        -(365 + n % (2 * 365))
    }

    /// The replacement of a UID: `2.25.` and the decimal of a 128-bit keyed digest
    /// (PS3.5 B.2), at most 44 characters.
    pub fn uid(&self, uid: &str) -> String {
        // UIDs are padded with NUL to even length on the wire: the padding is not part of it.
        let uid = uid.trim_end_matches(['\0', ' ']).trim_start();
        let d = self.digest("uid", &[uid]);
        let mut first = [0u8; 16];
        first.copy_from_slice(&d[..16]);
        format!("2.25.{}", u128::from_be_bytes(first))
    }
}

fn research_id(prefix: char, digest: &[u8; 32]) -> String {
    let mut bits = u128::from_be_bytes(digest[..16].try_into().expect("16 bytes"));
    let mut out = String::with_capacity(1 + ID_CHARS);
    out.push(prefix);
    for _ in 0..ID_CHARS {
        out.push(CROCKFORD[(bits >> 123) as usize] as char);
        bits <<= 5;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::from_secret(b"correct horse battery staple")
    }

    #[test]
    fn ids_are_sh_safe_and_stable() {
        let k = ring();
        let p = k.patient("12345");
        assert_eq!(p.len(), 16);
        assert!(p.starts_with('P'));
        assert!(p[1..].bytes().all(|b| CROCKFORD.contains(&b)));
        assert_eq!(p, k.patient(" 12345 "), "DICOM padding must not change the pseudonym");
        assert_eq!(p, Keyring::from_secret(b"correct horse battery staple\n").patient("12345"));
        assert_ne!(p, k.patient("12346"));
    }

    #[test]
    fn ids_depend_on_the_secret_and_the_domain() {
        let k = ring();
        let other = Keyring::from_secret(b"another site");
        assert_ne!(k.patient("12345"), other.patient("12345"));
        assert_ne!(k.patient("12345")[1..], k.visit("12345", "")[1..]);
        assert_ne!(k.visit("1", "23"), k.visit("12", "3"));
    }

    #[test]
    fn uids_are_valid_2_25_uids() {
        let k = ring();
        let u = k.uid("1.2.840.113619.2.1.1.1\0");
        assert_eq!(u, k.uid("1.2.840.113619.2.1.1.1"));
        assert!(u.starts_with("2.25."));
        assert!(u.len() <= 64);
        let digits = &u[5..];
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        assert!(!digits.starts_with('0') || digits == "0", "no leading zero in a UID component");
        assert_ne!(u, ring_other_uid());
    }

    /// The scheme must never change silently: daily exports with the same secret link
    /// only while these values stay the same (the wasm tests check them in Chromium too).
    #[test]
    fn pseudonyms_are_stable_across_versions() {
        let k = Keyring::from_secret(b"correct horse battery staple 2026");
        assert_eq!(k.patient("PID4711X"), "PNMWM5WK3Q8DMQ4E");
        assert_eq!(k.visit("PID4711X", "20240315"), "V52EB717Q3CSJG7G");
        assert_eq!(k.uid("1.2.826.0.1.4711.1"), "2.25.95480004436341308729304945279523683783");
        assert_eq!(k.date_shift("PID4711X"), -693);
    }

    fn ring_other_uid() -> String {
        Keyring::from_secret(b"x").uid("1.2.840.113619.2.1.1.1")
    }
}
