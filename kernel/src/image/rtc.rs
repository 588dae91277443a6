//! The CMOS real-time clock, read once at boot for CLOCK_REALTIME.

use x86_64::instructions::port::Port;

const CMOS_INDEX: u16 = 0x70;
const CMOS_DATA: u16 = 0x71;

fn read_register(register: u8) -> u8 {
    let mut index = Port::<u8>::new(CMOS_INDEX);
    let mut data = Port::<u8>::new(CMOS_DATA);
    // SAFETY: the CMOS index/data ports are the standard PC RTC; reading a time register
    // has no side effects (bit 7 of the index keeps NMIs enabled as they were: clear).
    unsafe {
        index.write(register);
        data.read()
    }
}

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Seconds since the Unix epoch, now, from the RTC (UTC, as QEMU's default `-rtc base=utc`).
pub fn unix_seconds() -> u64 {
    // Wait until no update is in progress, then read twice until two reads agree.
    let read_all = || {
        while read_register(0x0a) & 0x80 != 0 {
            core::hint::spin_loop();
        }
        [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32].map(read_register)
    };
    let mut values = read_all();
    loop {
        let again = read_all();
        if again == values {
            break;
        }
        values = again;
    }
    let status_b = read_register(0x0b);
    let binary = status_b & 0x04 != 0;
    let decode = |value: u8| {
        if binary {
            value
        } else {
            (value & 0x0f) + (value >> 4) * 10
        }
    };
    let [seconds, minutes, hours_raw, day, month, year, century] = values;
    let mut hours = decode(hours_raw & 0x7f);
    if status_b & 0x02 == 0 && hours_raw & 0x80 != 0 {
        hours = (hours % 12) + 12; // 12-hour clock, PM
    }
    let century = if century == 0 { 20 } else { decode(century) };
    let year = i64::from(century) * 100 + i64::from(decode(year));
    let days = days_from_civil(year, i64::from(decode(month)), i64::from(decode(day)));
    (days * 86_400
        + i64::from(hours) * 3600
        + i64::from(decode(minutes)) * 60
        + i64::from(decode(seconds))) as u64
}
