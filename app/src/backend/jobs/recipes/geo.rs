//! Country of an IPv4 address, from an embedded range table (demo data, sorted by start).

use std::net::Ipv4Addr;

const fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

/// (first address, last address, ISO country code), sorted and non-overlapping.
pub const RANGES: &[(u32, u32, &str)] = &[
    (ip(2, 0, 0, 0), ip(2, 15, 255, 255), "FR"),
    (ip(5, 8, 0, 0), ip(5, 8, 255, 255), "RU"),
    (ip(5, 144, 0, 0), ip(5, 159, 255, 255), "DE"),
    (ip(24, 0, 0, 0), ip(24, 31, 255, 255), "US"),
    (ip(31, 0, 0, 0), ip(31, 15, 255, 255), "NL"),
    (ip(41, 0, 0, 0), ip(41, 31, 255, 255), "ZA"),
    (ip(49, 0, 0, 0), ip(49, 15, 255, 255), "IN"),
    (ip(58, 0, 0, 0), ip(58, 15, 255, 255), "JP"),
    (ip(62, 0, 0, 0), ip(62, 15, 255, 255), "GB"),
    (ip(77, 0, 0, 0), ip(77, 15, 255, 255), "ES"),
    (ip(79, 0, 0, 0), ip(79, 15, 255, 255), "IT"),
    (ip(99, 224, 0, 0), ip(99, 255, 255, 255), "CA"),
    (ip(101, 160, 0, 0), ip(101, 191, 255, 255), "AU"),
    (ip(177, 0, 0, 0), ip(177, 31, 255, 255), "BR"),
    (ip(189, 128, 0, 0), ip(189, 159, 255, 255), "MX"),
    (ip(200, 0, 0, 0), ip(200, 15, 255, 255), "AR"),
];

/// Each country of the demo data with its sales region (EU, US, LATAM, APAC, EMEA).
pub const COUNTRY_REGIONS: &[(&str, &str)] = &[
    ("FR", "EU"), ("DE", "EU"), ("GB", "EU"), ("ES", "EU"), ("IT", "EU"), ("NL", "EU"),
    ("US", "US"), ("CA", "US"), ("MX", "US"), ("BR", "LATAM"), ("AR", "LATAM"),
    ("JP", "APAC"), ("AU", "APAC"), ("IN", "APAC"), ("ZA", "EMEA"),
];

/// The sales region of a country code, when it has one.
pub fn region_of_country(code: &str) -> Option<&'static str> {
    COUNTRY_REGIONS.iter().find(|(c, _)| *c == code).map(|(_, region)| *region)
}

/// The country code for an address, or "unknown" outside every range.
pub fn country_of(addr: Ipv4Addr) -> &'static str {
    let n = u32::from(addr);
    let idx = RANGES.partition_point(|&(start, _, _)| start <= n);
    match idx.checked_sub(1).map(|i| RANGES[i]) {
        Some((_, end, country)) if n <= end => country,
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_disjoint() {
        for pair in RANGES.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn countries_have_regions() {
        assert_eq!(region_of_country("FR"), Some("EU"));
        assert_eq!(region_of_country("MX"), Some("US"));
        assert_eq!(region_of_country("RU"), None);
        assert_eq!(region_of_country("unknown"), None);
    }

    #[test]
    fn looks_up_countries() {
        assert_eq!(country_of("2.0.0.0".parse().unwrap()), "FR");
        assert_eq!(country_of("2.15.255.255".parse().unwrap()), "FR");
        assert_eq!(country_of("2.16.0.0".parse().unwrap()), "unknown");
        assert_eq!(country_of("24.10.1.2".parse().unwrap()), "US");
        assert_eq!(country_of("200.15.0.1".parse().unwrap()), "AR");
        assert_eq!(country_of("1.1.1.1".parse().unwrap()), "unknown");
        assert_eq!(country_of("255.255.255.255".parse().unwrap()), "unknown");
    }
}
