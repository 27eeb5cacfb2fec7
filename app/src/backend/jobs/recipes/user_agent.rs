//! Classifies browser user-agent strings: bots, browser, operating system, device class.

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

pub fn is_bot(ua: &str) -> bool {
    let ua = ua.to_ascii_lowercase();
    ua.is_empty() || contains_any(&ua, &["bot", "spider", "crawl", "slurp", "headless"])
}

pub fn browser(ua: &str) -> &'static str {
    if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") {
        "Opera"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else {
        "Other"
    }
}

pub fn os(ua: &str) -> &'static str {
    if ua.contains("Windows NT") {
        "Windows"
    } else if ua.contains("Android") {
        "Android"
    } else if contains_any(ua, &["iPhone", "iPad"]) {
        "iOS"
    } else if ua.contains("Mac OS X") {
        "macOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        "Other"
    }
}

pub fn device(ua: &str) -> &'static str {
    if contains_any(ua, &["iPad", "Tablet"]) {
        "tablet"
    } else if contains_any(ua, &["Mobile", "iPhone", "Android"]) {
        "mobile"
    } else {
        "desktop"
    }
}

/// User agents the demo traffic is drawn from, with bots among them.
pub const SAMPLES: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 OPR/85.0.0.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_samples() {
        assert!(is_bot(SAMPLES[11]) && is_bot(SAMPLES[12]) && is_bot(SAMPLES[13]));
        assert!(!is_bot(SAMPLES[0]) && !is_bot(SAMPLES[7]));
        assert_eq!((browser(SAMPLES[0]), os(SAMPLES[0]), device(SAMPLES[0])), ("Chrome", "Windows", "desktop"));
        assert_eq!(browser(SAMPLES[1]), "Edge");
        assert_eq!(browser(SAMPLES[2]), "Firefox");
        assert_eq!((browser(SAMPLES[3]), os(SAMPLES[3])), ("Safari", "macOS"));
        assert_eq!(os(SAMPLES[6]), "Linux");
        assert_eq!((browser(SAMPLES[7]), os(SAMPLES[7]), device(SAMPLES[7])), ("Safari", "iOS", "mobile"));
        assert_eq!(device(SAMPLES[8]), "tablet");
        assert_eq!((os(SAMPLES[9]), device(SAMPLES[9])), ("Android", "mobile"));
        assert_eq!(browser(SAMPLES[10]), "Opera");
        assert!(is_bot(""));
    }
}
