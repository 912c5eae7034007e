//! The baselines: a raw TCP copy of the big file and a tar stream of the
//! small ones.

use super::*;

/// Sends the folder `tree` through `tar -c | TCP | tar -x` into `dst` on
/// loopback; returns the seconds to the unpacking tar's exit (tar does not
/// fsync).
pub(crate) fn tar_tcp(tree: &Path, dst: &Path) -> anyhow::Result<f64> {
    std::fs::create_dir_all(dst).context("cannot create the tar destination")?;
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen on 127.0.0.1")?;
    let addr = listener.local_addr().context("no local address")?;
    let parent = tree.parent().context("no parent")?.to_owned();
    let name = tree.file_name().context("no name")?.to_owned();
    let start = Instant::now();
    let sender = thread::spawn(move || -> anyhow::Result<()> {
        let mut tar = Command::new("tar")
            .arg("-cf")
            .arg("-")
            .arg("-C")
            .arg(&parent)
            .arg(&name)
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot run tar (is it installed?)")?;
        let mut out = tar.stdout.take().context("no tar stdout")?;
        let mut sock = TcpStream::connect(addr).context("cannot connect")?;
        pump(&mut out, &mut sock).context("tar send failed")?;
        ensure!(tar.wait()?.success(), "tar -c failed");
        Ok(())
    });
    let (mut sock, _) = listener.accept().context("accept failed")?;
    let mut tar = Command::new("tar")
        .arg("-xf")
        .arg("-")
        .arg("-C")
        .arg(dst)
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot run tar (is it installed?)")?;
    let mut input = tar.stdin.take().context("no tar stdin")?;
    pump(&mut sock, &mut input).context("tar receive failed")?;
    drop(input);
    ensure!(tar.wait()?.success(), "tar -x failed");
    let secs = start.elapsed().as_secs_f64();
    sender
        .join()
        .map_err(|_| anyhow!("the tar sender panicked"))??;
    Ok(secs)
}

/// Copies `src` to `dst` through a loopback TCP socket; returns the seconds
/// to the destination closed, and to it closed and then fsynced.
pub(crate) fn raw_tcp(src: &Path, dst: &Path) -> anyhow::Result<(f64, f64)> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen on 127.0.0.1")?;
    let addr = listener.local_addr().context("no local address")?;
    let (tx, rx) = mpsc::channel::<(bool, anyhow::Result<u64>)>();
    let (to, src, out) = (tx.clone(), src.to_owned(), dst.to_owned());
    let start = Instant::now();
    thread::spawn(move || {
        let result = (|| {
            let (mut sock, _) = listener.accept().context("accept failed")?;
            let mut file = File::create(&out).context("cannot create the raw copy")?;
            pump(&mut sock, &mut file).context("raw receive failed")
        })();
        let _ = to.send((true, result));
    });
    thread::spawn(move || {
        let result = (|| {
            let mut file = File::open(&src).context("cannot open the source")?;
            let mut sock = TcpStream::connect(addr).context("cannot connect")?;
            pump(&mut file, &mut sock).context("raw send failed")
        })();
        let _ = tx.send((false, result));
    });
    let (mut closed, mut counts) = (0.0, Vec::new());
    while counts.len() < 2 {
        let left = STEP.saturating_sub(start.elapsed());
        let (receiver, result) = rx
            .recv_timeout(left)
            .map_err(|_| anyhow!("raw copy timed out"))?;
        counts.push(result?);
        if receiver {
            closed = start.elapsed().as_secs_f64();
        }
    }
    ensure!(
        counts[0] == counts[1],
        "raw TCP: sent and received counts differ"
    );
    File::open(dst)
        .and_then(|f| f.sync_all())
        .context("cannot fsync the raw copy")?;
    Ok((closed, start.elapsed().as_secs_f64()))
}

/// Copies until EOF, 256 KiB at a time (the engine's chunk size).
fn pump(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<u64> {
    let (mut buf, mut total) = (vec![0u8; 256 * 1024], 0);
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => to.write_all(&buf[..n]).map(|()| total += n as u64)?,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
