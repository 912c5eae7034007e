//! Where the files of one accepted offer go, and opening each one's
//! partial file: named (kept for a resume) or, for a small file, without a
//! name (see [`UNNAMED_BELOW`]).

use super::*;

/// Where the files of one accepted offer go: the download folder and the
/// name chosen for each top-level file and folder. Made by [`Store::prepare`].
#[derive(Debug, Clone)]
pub struct Placement {
    /// `DIR`.
    pub(super) dir: PathBuf,
    /// Top-level name in the offer -> name in `DIR`.
    pub(super) top: HashMap<String, String>,
    /// The peer the files come from: names their partial files.
    pub(super) sender: Sender,
    /// `DIR/.p2p-share/partial`, held open (set by [`Store::prepare`]).
    #[cfg(target_os = "linux")]
    pub(super) partial: Option<Arc<OwnedFd>>,
    /// The folder files were last placed in, held open.
    #[cfg(target_os = "linux")]
    pub(super) last_folder: Arc<Mutex<held::LastFolder>>,
    /// How files made without a name in the partial folder get one, where
    /// they can be (set by [`Store::prepare`]).
    #[cfg(target_os = "linux")]
    pub(super) unnamed: Option<held::Link>,
}

impl Placement {
    pub(super) fn new(dir: PathBuf, top: HashMap<String, String>, sender: Sender) -> Self {
        Self {
            dir,
            top,
            sender,
            #[cfg(target_os = "linux")]
            partial: None,
            #[cfg(target_os = "linux")]
            last_folder: Arc::default(),
            #[cfg(target_os = "linux")]
            unnamed: None,
        }
    }

    /// Creates the partial file `part` (locked) if it does not exist yet:
    /// in the partial folder held open where there is one, else by path
    /// after checking the folders again (they may have been replaced since
    /// [`Store::prepare`]).
    fn create_partial(&self, part: &Path) -> Result<Result<Option<File>, Locked>, StoreError> {
        #[cfg(target_os = "linux")]
        if let (Some(dir), Some(name)) = (&self.partial, part.file_name()) {
            return Ok(partial::create_locked_at(dir, name));
        }
        ensure_dirs(&self.dir, [STATE_DIR, PARTIAL_DIR])?;
        Ok(create_locked(part))
    }

    /// The download folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The name a top-level file or folder of the offer is saved under in
    /// the download folder (`photos` → `photos (1)` if `photos` was taken);
    /// unchanged if the offer has no such top-level name.
    pub fn top_level_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.top.get(name).map_or(name, String::as_str)
    }

    /// Where the file or folder `rel` of the offer is saved: its top-level
    /// name mapped as [`Placement::top_level_name`] says. Pure; a file that
    /// finds its name taken at the last moment gets a numbered name instead
    /// ([`PartialFile::finish`] returns the real path).
    pub fn final_path(&self, rel: &SafePath) -> PathBuf {
        let mut path = self.dir.clone();
        path.extend(self.mapped_components(rel));
        path
    }

    /// Where partial files are kept.
    fn partial_dir(&self) -> PathBuf {
        self.dir.join(STATE_DIR).join(PARTIAL_DIR)
    }

    /// The components of `rel` with the top-level one mapped.
    pub(super) fn mapped_components<'a>(
        &'a self,
        rel: &'a SafePath,
    ) -> impl Iterator<Item = &'a str> {
        rel.components()
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 0 { self.top_level_name(c) } else { c })
    }

    /// Opens the partial file for file number `index` of the offer, to
    /// receive it from byte `offset` on.
    ///
    /// The partial is created if missing and cut to `offset` bytes (0: empty).
    /// Its first `offset` bytes are read back into the hash, so
    /// [`PartialFile::finish`] verifies the whole file.
    ///
    /// # Errors
    /// [`StoreError::PartialTooShort`] if fewer than `offset` bytes are on
    /// disk; [`StoreError::TooMuchData`] if `offset` is past the end of the
    /// file; [`StoreError::InUse`] if another transfer writes the same
    /// content now; [`StoreError::Unsafe`]; [`StoreError::Io`].
    pub fn open(
        &self,
        index: u32,
        entry: &FileEntry,
        offset: u64,
    ) -> Result<PartialFile, StoreError> {
        let rel = parse(&entry.path)?;
        let name = display_escaped(&entry.path, SHOWN_CHARS);
        if offset > entry.size {
            return Err(StoreError::TooMuchData { path: name });
        }
        let (file, kind, part, hasher) = match self.open_unnamed(entry, offset) {
            Some((file, kind)) => (file, kind, self.final_path(&rel), blake3::Hasher::new()),
            None => {
                let part = self.partial_dir().join(partial_name(&self.sender, entry));
                let (file, hasher) = self.open_named(&part, &name, offset)?;
                (file, Kind::Named, part, hasher)
            }
        };
        tracing::debug!(index, file = %name, offset, "partial file open");
        // A large file goes around the page cache from its first aligned
        // offset on (see `direct`).
        #[cfg(target_os = "linux")]
        let direct_at = {
            let aligned = offset.next_multiple_of(direct::ALIGN as u64);
            (kind == Kind::Named
                && aligned <= entry.size
                && direct::worthwhile(&file, aligned, entry.size - aligned))
            .then_some(aligned)
        };
        Ok(PartialFile {
            // Sized to the file: a small file need not cost a large buffer.
            writer: BufWriter::with_capacity(
                usize::try_from(entry.size - offset)
                    .map_or(WRITE_BUFFER, |left| left.clamp(1, WRITE_BUFFER)),
                file,
            ),
            kind,
            part,
            rel,
            name,
            index,
            size: entry.size,
            expected: entry.hash,
            hasher,
            written: offset,
            written_back: offset,
            failed: false,
            #[cfg(target_os = "linux")]
            direct_at,
            #[cfg(target_os = "linux")]
            direct: None,
        })
    }

    /// A file without a name for a new small file, where there can be one.
    #[cfg(target_os = "linux")]
    fn open_unnamed(&self, entry: &FileEntry, offset: u64) -> Option<(File, Kind)> {
        let (Some(link), Some(dir)) = (self.unnamed, &self.partial) else {
            return None;
        };
        if offset > 0 || entry.size >= UNNAMED_BELOW {
            return None;
        }
        match held::create_unnamed(dir) {
            Ok(fd) => Some((File::from(fd), Kind::Unnamed(link))),
            Err(error) => {
                tracing::debug!(%error, "no file without a name; using a partial name");
                None
            }
        }
    }

    /// Files without a name are Linux's.
    #[cfg(not(target_os = "linux"))]
    fn open_unnamed(&self, _entry: &FileEntry, _offset: u64) -> Option<(File, Kind)> {
        None
    }

    /// Opens the named partial `part`, creating it if missing, cut to
    /// `offset` bytes and positioned there, with those bytes hashed (see
    /// [`Placement::open`]).
    fn open_named(
        &self,
        part: &Path,
        name: &str,
        offset: u64,
    ) -> Result<(File, blake3::Hasher), StoreError> {
        let io_err = |source| StoreError::Io {
            path: part.to_path_buf(),
            source,
        };
        let mut file = match self.create_partial(part)? {
            // A new, empty file: nothing to check, cut or read back.
            Ok(Some(_)) if offset > 0 => {
                return Err(StoreError::PartialTooShort {
                    path: name.to_owned(),
                    have: 0,
                    offset,
                });
            }
            Ok(Some(file)) => file,
            Ok(None) => {
                let file = open_existing(part, name)?;
                check_length(file, part, name.to_owned(), offset)?
            }
            Err(Locked::Busy) => return Err(StoreError::InUse { path: name.into() }),
            Err(Locked::Io(source)) => return Err(io_err(source)),
        };
        let mut hasher = blake3::Hasher::new();
        if offset > 0 {
            file.seek(SeekFrom::Start(0)).map_err(io_err)?;
            let read =
                crate::files::hash_stream((&mut file).take(offset), &mut hasher, &mut |_| {})
                    .map_err(io_err)?;
            if read != offset {
                return Err(StoreError::PartialTooShort {
                    path: name.to_owned(),
                    have: read,
                    offset,
                });
            }
            // After hashing the prefix, at `offset` (a new file is at 0).
            file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        }
        Ok((file, hasher))
    }
}

/// Opens the existing partial file `part` (locked), refusing anything that
/// is not a regular file.
fn open_existing(part: &Path, name: &str) -> Result<File, StoreError> {
    let io_err = |source| StoreError::Io {
        path: part.to_path_buf(),
        source,
    };
    match fs::symlink_metadata(part) {
        Ok(meta) if !meta.is_file() => {
            return Err(StoreError::Unsafe {
                path: part.to_path_buf(),
                reason: "something other than a file is where partial data belongs; \
                         remove it and try again"
                    .into(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(io_err(source)),
    }
    open_locked(part).map_err(|e| match e {
        Locked::Busy => StoreError::InUse { path: name.into() },
        Locked::Io(source) => io_err(source),
    })
}

/// Cuts the open partial `file` to `offset` bytes; fails if it is shorter.
fn check_length(file: File, part: &Path, name: String, offset: u64) -> Result<File, StoreError> {
    let io_err = |source| StoreError::Io {
        path: part.to_path_buf(),
        source,
    };
    let have = file.metadata().map_err(io_err)?.len();
    if have < offset {
        return Err(StoreError::PartialTooShort {
            path: name,
            have,
            offset,
        });
    }
    if have != offset {
        file.set_len(offset).map_err(io_err)?;
    }
    Ok(file)
}
