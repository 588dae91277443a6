//! The kernel command line: space-separated `key` or `key=value` words.

/// A borrowed command line. As on Linux, words after a lone `--` belong to init, not
/// to the kernel.
#[derive(Clone, Copy, Debug)]
pub struct Cmdline<'a>(pub &'a str);

/// How a key appears on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting<'a> {
    /// Not given.
    Absent,
    /// Given as a bare word.
    Flag,
    /// Given as `key=value` (the last one wins).
    Value(&'a str),
}

impl<'a> Cmdline<'a> {
    /// How `key` is set.
    pub fn get(&self, key: &str) -> Setting<'a> {
        let mut setting = Setting::Absent;
        for word in self
            .0
            .split_ascii_whitespace()
            .take_while(|word| *word != "--")
        {
            match word.split_once('=') {
                Some((name, value)) if name == key => setting = Setting::Value(value),
                None if word == key => setting = Setting::Flag,
                _ => {}
            }
        }
        setting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_values() {
        let cmdline = Cmdline("  selftest  init=/bin/sh loglevel=3 loglevel=4 quiet");
        assert_eq!(cmdline.get("selftest"), Setting::Flag);
        assert_eq!(cmdline.get("init"), Setting::Value("/bin/sh"));
        assert_eq!(cmdline.get("loglevel"), Setting::Value("4"));
        assert_eq!(cmdline.get("quiet"), Setting::Flag);
        assert_eq!(cmdline.get("self"), Setting::Absent);
        assert_eq!(Cmdline("").get("selftest"), Setting::Absent);
        assert_eq!(Cmdline("a=").get("a"), Setting::Value(""));
        let with_init_arguments = Cmdline("quiet -- runlist selftest=x");
        assert_eq!(with_init_arguments.get("quiet"), Setting::Flag);
        assert_eq!(with_init_arguments.get("runlist"), Setting::Absent);
        assert_eq!(with_init_arguments.get("selftest"), Setting::Absent);
    }
}
