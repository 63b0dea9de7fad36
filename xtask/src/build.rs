//! Building the hypervisor's boot images.
//!
//! Kernels are built by a nested `cargo build` into `target/kernel` (a target directory of its
//! own, so that a build started from inside `cargo test` never waits on the outer cargo's
//! lock). The hypervisor is built for `x86_64-vmm.json` with `build-std`; guests for the
//! prebuilt `x86_64-unknown-none` target. The ramdisk is a ustar archive of `vms.toml` and every
//! guest image it names; the configuration is checked with `vmm_config` (the parser the
//! hypervisor itself runs) before anything is written.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// The image name under which the workspace's own guest kernel is packed.
pub const GUEST_KERNEL_IMAGE: &str = "guest-kernel";

/// Kernel ELF files produced by [`build_kernels`].
#[derive(Debug, Clone)]
pub struct Kernels {
    /// The hypervisor ELF.
    pub hypervisor: PathBuf,
    /// The guest kernel ELF.
    pub guest: PathBuf,
}

/// The disk images for one configuration.
#[derive(Debug, Clone)]
pub struct Images {
    /// Directory holding everything below.
    pub dir: PathBuf,
    /// The ramdisk archive.
    pub ramdisk: PathBuf,
    /// BIOS (MBR) disk image.
    pub bios: PathBuf,
    /// UEFI (GPT) disk image.
    pub uefi: PathBuf,
}

/// What goes into a ramdisk.
#[derive(Debug, Clone)]
pub struct RamdiskSpec {
    /// The configuration text (`vms.toml`).
    pub config: String,
    /// Where the configuration came from, for error messages.
    pub config_origin: String,
    /// Directory against which image names that are not built here are resolved.
    pub image_dir: PathBuf,
    /// Validate the configuration first (turned off only to test the hypervisor's own check).
    pub validate: bool,
    /// A boot self-test for the hypervisor to run (see `hypervisor/src/selftest.rs`).
    pub selftest: Option<String>,
}

impl RamdiskSpec {
    /// A validated ramdisk from configuration text.
    pub fn from_text(config: impl Into<String>, origin: impl Into<String>) -> Self {
        RamdiskSpec {
            config: config.into(),
            config_origin: origin.into(),
            image_dir: workspace_root(),
            validate: true,
            selftest: None,
        }
    }

    /// A validated ramdisk from a configuration file; images resolve next to it.
    pub fn from_file(path: &Path) -> Result<Self> {
        let config =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut spec = Self::from_text(config, path.display().to_string());
        spec.image_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(workspace_root);
        Ok(spec)
    }
}

/// Builds the hypervisor and the guest kernel (release profile, with debug info).
pub fn build_kernels() -> Result<Kernels> {
    let root = workspace_root();
    let target_dir = root.join("target").join("kernel");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let run = |args: &[&str], what: &str| -> Result<()> {
        let status = Command::new(&cargo)
            .current_dir(&root)
            .args(args)
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .status()
            .with_context(|| format!("cannot run {cargo}"))?;
        if !status.success() {
            bail!("building {what} failed ({status})");
        }
        Ok(())
    };
    let target_json = root.join("x86_64-vmm.json");
    run(
        &[
            "build",
            "--release",
            "--package",
            "hypervisor",
            "--bin",
            "hypervisor",
            "--target",
            target_json.to_str().context("non-UTF-8 path")?,
            "-Zjson-target-spec",
            "-Zbuild-std=core,alloc,compiler_builtins",
            "-Zbuild-std-features=compiler-builtins-mem",
        ],
        "the hypervisor",
    )?;
    run(
        &[
            "build",
            "--release",
            "--package",
            "guest-kernel",
            "--target",
            "x86_64-unknown-none",
        ],
        "the guest kernel",
    )?;
    let built = Kernels {
        hypervisor: target_dir.join("x86_64-vmm/release/hypervisor"),
        guest: target_dir.join("x86_64-unknown-none/release/guest-kernel"),
    };
    // Images carry copies without debug sections; GDB reads the originals.
    Ok(stripped(&built, &target_dir.join("boot")))
}

/// Copies of `kernels` without debug sections, in `dir`: the code the machine runs is the
/// same, but SeaBIOS reads the disk by PIO, one port access per two bytes, and a TCG boot
/// of the 17 MiB image with debug information takes 15–18 s against 2–3 s without. Falls back
/// to `kernels` (slower boots, same results) when the toolchain's `llvm-objcopy` is missing.
fn stripped(kernels: &Kernels, dir: &Path) -> Kernels {
    let strip = |tool: &Path, from: &Path| -> Option<PathBuf> {
        let to = dir.join(from.file_name()?);
        let ok = Command::new(tool)
            .arg("--strip-debug")
            .arg(from)
            .arg(&to)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(to)
    };
    let copies = fs::create_dir_all(dir)
        .ok()
        .and(llvm_objcopy())
        .and_then(|tool| {
            Some(Kernels {
                hypervisor: strip(&tool, &kernels.hypervisor)?,
                guest: strip(&tool, &kernels.guest)?,
            })
        });
    copies.unwrap_or_else(|| {
        eprintln!(
            "note: llvm-objcopy (rustup component llvm-tools) not found: images keep their debug information and each boot takes ~15 s longer"
        );
        kernels.clone()
    })
}

/// The toolchain's `llvm-objcopy` (rustup component `llvm-tools`, pinned in
/// rust-toolchain.toml).
fn llvm_objcopy() -> Option<PathBuf> {
    let rustc = |args: &[&str]| {
        Command::new("rustc")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let sysroot = rustc(&["--print", "sysroot"])?;
    let version = rustc(&["-vV"])?;
    let host = version.lines().find_map(|l| l.strip_prefix("host: "))?;
    let tool = PathBuf::from(sysroot.trim())
        .join("lib/rustlib")
        .join(host.trim())
        .join("bin/llvm-objcopy");
    tool.exists().then_some(tool)
}

/// Checks a configuration the way the hypervisor will, resolving image names to files.
/// Returns the image files by name. The error names the file, line and field.
pub fn check_config(spec: &RamdiskSpec, kernels: &Kernels) -> Result<BTreeMap<String, Vec<u8>>> {
    let config = vmm_config::parse(&spec.config)
        .map_err(|e| anyhow::anyhow!("{}: {e}", spec.config_origin))?;
    let mut images = BTreeMap::new();
    for vm in &config.vms {
        if images.contains_key(&vm.image) {
            continue;
        }
        let path = if vm.image == GUEST_KERNEL_IMAGE {
            kernels.guest.clone()
        } else {
            spec.image_dir.join(&vm.image)
        };
        if let Ok(bytes) = fs::read(&path) {
            images.insert(vm.image.clone(), bytes);
        }
    }
    vmm_config::check_images(&config, |name| images.get(name).map(Vec::as_slice))
        .map_err(|e| anyhow::anyhow!("{}: {e}", spec.config_origin))?;
    Ok(images)
}

/// Validates the configuration, packs the ramdisk and creates both disk images in
/// `target/images/<name>/`. Files are written under temporary names and renamed into place.
pub fn build_images(name: &str, spec: &RamdiskSpec, kernels: &Kernels) -> Result<Images> {
    let images = if spec.validate {
        check_config(spec, kernels)?
    } else {
        // Pack what can be found, so the hypervisor's own checks are what refuses the rest.
        let mut images = BTreeMap::new();
        images.insert(GUEST_KERNEL_IMAGE.to_string(), fs::read(&kernels.guest)?);
        images
    };
    let dir = workspace_root().join("target").join("images").join(name);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let mut files: Vec<(String, Vec<u8>)> = vec![(
        vmm_config::CONFIG_FILE.to_string(),
        spec.config.clone().into_bytes(),
    )];
    files.extend(images);
    if let Some(test) = &spec.selftest {
        files.push(("selftest".to_string(), test.clone().into_bytes()));
    }
    let ramdisk = dir.join("ramdisk.tar");
    write_atomically(&ramdisk, &pack_tar(&files)?)?;

    let mut builder = bootloader::DiskImageBuilder::new(kernels.hypervisor.clone());
    builder.set_ramdisk(ramdisk.clone());
    let mut boot_config = bootloader::BootConfig::default();
    // The framebuffer console is slow under emulation and invisible headless; the serial
    // console carries the bootloader's warnings and everything the hypervisor prints.
    boot_config.frame_buffer_logging = false;
    boot_config.serial_logging = true;
    boot_config.log_level = bootloader_boot_config::LevelFilter::Warn;
    builder.set_boot_config(&boot_config);

    let bios = dir.join("bios.img");
    let uefi = dir.join("uefi.img");
    let bios_tmp = bios.with_extension(format!("img.{}", unique_suffix()));
    builder
        .create_bios_image(&bios_tmp)
        .context("creating the BIOS image")?;
    fs::rename(&bios_tmp, &bios)?;
    let uefi_tmp = uefi.with_extension(format!("img.{}", unique_suffix()));
    builder
        .create_uefi_image(&uefi_tmp)
        .context("creating the UEFI image")?;
    fs::rename(&uefi_tmp, &uefi)?;
    Ok(Images {
        dir,
        ramdisk,
        bios,
        uefi,
    })
}

fn pack_tar(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        archive.append_data(&mut header, name, data.as_slice())?;
    }
    Ok(archive.into_inner()?)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(unique_suffix());
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A suffix for temporary files that no other thread or process uses at the same time.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
