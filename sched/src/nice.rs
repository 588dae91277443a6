//! Nice values and the load weights they stand for (Linux's `sched_prio_to_weight`).

/// A task's nice value, -20 (most favoured) to 19 (least), as `setpriority(2)` sets it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nice(i8);

/// Linux's `sched_prio_to_weight` (kernel/sched/core.c): the weight of nice -20 ... 19.
/// Each step is about 1.25x, so one nice level is about 10% of CPU time between two
/// CPU-bound tasks; nice 0 is [`NICE_0_WEIGHT`].
const WEIGHT_OF_NICE: [u32; 40] = [
    /* -20 */ 88761, 71755, 56483, 46273, 36291, //
    /* -15 */ 29154, 23254, 18705, 14949, 11916, //
    /* -10 */ 9548, 7620, 6100, 4904, 3906, //
    /*  -5 */ 3121, 2501, 1991, 1586, 1277, //
    /*   0 */ 1024, 820, 655, 526, 423, //
    /*   5 */ 335, 272, 215, 172, 137, //
    /*  10 */ 110, 87, 70, 56, 45, //
    /*  15 */ 36, 29, 23, 18, 15, //
];

/// The weight of nice 0: virtual runtime advances at the speed of real time for it.
pub const NICE_0_WEIGHT: u32 = 1024;

impl Nice {
    /// The most favoured nice value.
    pub const MIN: Nice = Nice(-20);
    /// The least favoured nice value.
    pub const MAX: Nice = Nice(19);
    /// Nice 0, every task's start (`fork` passes the parent's on).
    pub const DEFAULT: Nice = Nice(0);

    /// `value` clamped into -20..=19, as `setpriority(2)` does with out-of-range values.
    pub const fn clamped(value: i32) -> Nice {
        let clamped = if value < Nice::MIN.0 as i32 {
            Nice::MIN.0
        } else if value > Nice::MAX.0 as i32 {
            Nice::MAX.0
        } else {
            value as i8
        };
        Nice(clamped)
    }

    /// The nice value as a number.
    pub const fn value(self) -> i32 {
        self.0 as i32
    }

    /// The load weight of this nice value: a task's share of a contended CPU is its weight
    /// divided by the sum of the weights there.
    pub const fn weight(self) -> u32 {
        WEIGHT_OF_NICE[(self.0 - Nice::MIN.0) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_like_setpriority() {
        assert_eq!(Nice::clamped(-100), Nice::MIN);
        assert_eq!(Nice::clamped(100), Nice::MAX);
        assert_eq!(Nice::clamped(5).value(), 5);
        assert_eq!(Nice::default(), Nice::DEFAULT);
    }

    #[test]
    fn weights_follow_linux_table() {
        assert_eq!(Nice::DEFAULT.weight(), NICE_0_WEIGHT);
        assert_eq!(Nice::MIN.weight(), 88761);
        assert_eq!(Nice::MAX.weight(), 15);
        assert_eq!(Nice::clamped(-3).weight(), 1991);
        for value in -20..19 {
            let ratio = f64::from(Nice::clamped(value).weight())
                / f64::from(Nice::clamped(value + 1).weight());
            assert!((1.20..1.30).contains(&ratio), "nice {value}: ratio {ratio}");
        }
    }
}
