//! The initramfs xtask hands the kernel (QEMU `-initrd`): a cpio archive in the `newc`
//! format, written with the `cpio` crate. Linux reads the same archives, so a directory
//! entry comes before the files in it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use cpio::NewcBuilder;

const REGULAR_FILE: u32 = 0o100_000;
const DIRECTORY: u32 = 0o040_000;

/// The files of an initramfs, by absolute path (`/bin/hello`).
#[derive(Debug, Default)]
pub struct Initramfs {
    /// Path without the leading `/` (as Linux's `gen_init_cpio` writes names) to
    /// (permission bits, contents).
    files: BTreeMap<String, (u32, Vec<u8>)>,
}

impl Initramfs {
    /// Adds a program, mode 0755.
    pub fn add_executable(&mut self, path: &str, contents: Vec<u8>) {
        self.add(path, 0o755, contents);
    }

    /// Adds a data file, mode 0644.
    pub fn add_file(&mut self, path: &str, contents: Vec<u8>) {
        self.add(path, 0o644, contents);
    }

    fn add(&mut self, path: &str, permissions: u32, contents: Vec<u8>) {
        let name = path.trim_start_matches('/').to_string();
        self.files.insert(name, (permissions, contents));
    }

    /// Every directory that holds a file, each after its parent.
    fn directories(&self) -> BTreeSet<&str> {
        self.files
            .keys()
            .flat_map(|name| {
                name.match_indices('/')
                    .map(move |(slash, _)| &name[..slash])
            })
            .collect()
    }

    /// The archive: directories, files, then the `TRAILER!!!` entry.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut archive = Vec::new();
        // Inode numbers only need to differ; 0 is left out as "no inode".
        let mut inode = 0;
        for directory in self.directories() {
            inode += 1;
            let entry = NewcBuilder::new(directory)
                .ino(inode)
                .mode(DIRECTORY | 0o755)
                .nlink(2);
            archive = entry.write(archive, 0).finish()?;
        }
        for (name, (permissions, contents)) in &self.files {
            inode += 1;
            let size = u32::try_from(contents.len())
                .with_context(|| format!("{name} is too large for a cpio newc archive (4 GiB)"))?;
            let entry = NewcBuilder::new(name)
                .ino(inode)
                .mode(REGULAR_FILE | permissions);
            let mut writer = entry.write(archive, size);
            writer.write_all(contents)?;
            archive = writer.finish()?;
        }
        Ok(cpio::newc::trailer(archive)?)
    }

    /// Writes the archive to `path`, creating its directory.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(directory) = path.parent() {
            std::fs::create_dir_all(directory)
                .with_context(|| format!("cannot create {}", directory.display()))?;
        }
        std::fs::write(path, self.to_bytes()?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Initramfs {
        let mut initramfs = Initramfs::default();
        initramfs.add_executable("/bin/hello", b"\x7fELF hello".to_vec());
        initramfs.add_executable("/init", b"\x7fELF".to_vec());
        initramfs.add_file("/runlist", b"/bin/hello a b\n".to_vec());
        initramfs
    }

    /// What the kernel's reader (`cpio_reader`) sees: (name, mode, contents).
    fn read_back(archive: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        cpio_reader::iter_files(archive)
            .map(|entry| {
                (
                    entry.name().to_string(),
                    entry.mode().bits(),
                    entry.file().to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn the_kernels_reader_reads_every_entry() {
        let archive = example().to_bytes().unwrap();
        assert_eq!(
            read_back(&archive),
            [
                ("bin".to_string(), 0o040_755, Vec::new()),
                (
                    "bin/hello".to_string(),
                    0o100_755,
                    b"\x7fELF hello".to_vec()
                ),
                ("init".to_string(), 0o100_755, b"\x7fELF".to_vec()),
                (
                    "runlist".to_string(),
                    0o100_644,
                    b"/bin/hello a b\n".to_vec()
                ),
            ]
        );
    }

    #[test]
    fn newc_layout() {
        let mut initramfs = Initramfs::default();
        initramfs.add_file("/ab", b"xyz".to_vec());
        let archive = initramfs.to_bytes().unwrap();
        let fields = [
            "00000001", // ino
            "000081a4", // mode: regular file, 0644
            "00000000", // uid
            "00000000", // gid
            "00000001", // nlink
            "00000000", // mtime
            "00000003", // filesize
            "00000000", // devmajor
            "00000000", // devminor
            "00000000", // rdevmajor
            "00000000", // rdevminor
            "00000003", // namesize: "ab\0"
            "00000000", // check
        ];
        let header = format!("070701{}", fields.concat());
        assert_eq!(header.len(), 110);
        // 110 + 3 name bytes = 113, padded to 116; 3 data bytes padded to 4.
        let first = [header.as_bytes(), b"ab\0\0\0\0", b"xyz\0"].concat();
        assert_eq!(&archive[..first.len()], first.as_slice());
        let trailer = &archive[first.len()..];
        assert!(trailer.starts_with(b"070701"));
        assert_eq!(&trailer[110..121], b"TRAILER!!!\0");
        assert_eq!(archive.len() % 4, 0);
    }

    #[test]
    fn nested_directories_come_before_their_files() {
        let mut initramfs = Initramfs::default();
        initramfs.add_file("/usr/lib/a", Vec::new());
        initramfs.add_file("/usr/b", Vec::new());
        let names: Vec<String> = read_back(&initramfs.to_bytes().unwrap())
            .into_iter()
            .map(|(name, _, _)| name)
            .collect();
        assert_eq!(names, ["usr", "usr/lib", "usr/b", "usr/lib/a"]);
    }
}
