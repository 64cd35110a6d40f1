//! Sizes and durations for people.

/// `1.5 KiB`, `73.2 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `250ms`, `3s`, `1h 30m`, `2d 4h`: the two largest units, rounded down.
pub fn human_duration(nanos: i64) -> String {
    const UNITS: [(&str, i64); 4] = [
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
    ];
    let n = nanos.max(0);
    if n < 1_000_000_000 {
        return format!("{}ms", n / 1_000_000);
    }
    let mut parts = Vec::new();
    let mut rest = n;
    for (unit, size) in UNITS {
        if rest >= size || !parts.is_empty() {
            let count = rest / size;
            rest %= size;
            if count > 0 {
                parts.push(format!("{count}{unit}"));
            }
            if parts.len() == 2 || (!parts.is_empty() && count == 0) {
                break;
            }
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        let s = 1_000_000_000;
        assert_eq!(human_duration(250_000_000), "250ms");
        assert_eq!(human_duration(3 * s), "3s");
        assert_eq!(human_duration(90 * 60 * s), "1h 30m");
        assert_eq!(human_duration(3600 * s), "1h");
        assert_eq!(human_duration((52 * 3600 + 59) * s), "2d 4h");
        assert_eq!(human_duration(-5), "0ms");
    }
}
