//! Safe private attributes (PS3.15 E.3.10): vendor elements that identify nobody and that
//! conversion needs (diffusion b-values and directions, PET scale factors). Kept only with
//! the Retain Safe Private option; every other private element is removed. A private
//! element is named by its block's creator, not its number: the block (gggg,xx00) moves
//! from file to file, the creator string does not.

/// (private creator, group, element within the block) of the attributes kept.
const SAFE: &[(&str, u16, u8)] = &[
    // Siemens MR diffusion (PS3.15 Table E.3.10-1).
    ("SIEMENS MR HEADER", 0x0019, 0x0C), // B_value
    ("SIEMENS MR HEADER", 0x0019, 0x0D), // DiffusionDirectionality
    ("SIEMENS MR HEADER", 0x0019, 0x0E), // DiffusionGradientDirection
    ("SIEMENS MR HEADER", 0x0019, 0x27), // B_matrix
    // GE MR diffusion.
    ("GEMS_PARM_01", 0x0043, 0x39),      // Slop_int_6..9: b-value
    ("GEMS_ACQU_01", 0x0019, 0xBB),      // User data 20..22: gradient direction
    ("GEMS_ACQU_01", 0x0019, 0xBC),
    ("GEMS_ACQU_01", 0x0019, 0xBD),
    // Philips MR diffusion and PET quantitation.
    ("Philips Imaging DD 001", 0x2001, 0x03), // Diffusion B-Factor
    ("Philips MR Imaging DD 001", 0x2005, 0xB0), // Diffusion direction RL
    ("Philips MR Imaging DD 001", 0x2005, 0xB1), // Diffusion direction AP
    ("Philips MR Imaging DD 001", 0x2005, 0xB2), // Diffusion direction FH
    ("Philips PET Private Group", 0x7053, 0x00), // SUV Factor
    ("Philips PET Private Group", 0x7053, 0x09), // Activity Concentration Scale Factor
];

/// Whether the private element `(group, element)` whose block was reserved by `creator`
/// is on the safe list.
pub fn is_safe(creator: &str, group: u16, element: u16) -> bool {
    let creator = creator.trim_end_matches(['\0', ' ']);
    SAFE.iter().any(|&(c, g, e)| c == creator && g == group && (element & 0xFF) as u8 == e && element >> 8 >= 0x10)
}

/// The names of the safe private attributes, for the documentation and the page.
pub fn list() -> impl Iterator<Item = String> {
    SAFE.iter().map(|(c, g, e)| format!("({g:04X},xx{e:02X}) {c}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn safe_elements_are_named_by_creator() {
        assert!(super::is_safe("SIEMENS MR HEADER ", 0x0019, 0x100C));
        assert!(super::is_safe("SIEMENS MR HEADER", 0x0019, 0x120C));
        assert!(!super::is_safe("SIEMENS CSA HEADER", 0x0029, 0x1010));
        assert!(!super::is_safe("SIEMENS MR HEADER", 0x0019, 0x0010), "the creator element itself");
        assert_eq!(super::list().count(), 14);
    }
}
