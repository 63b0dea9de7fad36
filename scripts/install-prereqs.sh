#!/usr/bin/env bash
# Installs what building and testing the hypervisor needs, idempotently:
#   - the Rust toolchain pinned in rust-toolchain.toml, with its components and the guest target;
#   - QEMU >= 8 (for the igb NIC model), OVMF (UEFI firmware) and Bochs (the VMX platform).
# On Debian 12 QEMU comes from bookworm-backports; on Ubuntu >= 24.04 from the main archive.
# Elsewhere it prints the command to run and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'install-prereqs: %s\n' "$*" >&2; }

# --check: report what is missing and the command that installs it, change nothing.
check_only=0
[ "${1:-}" = "--check" ] && check_only=1

toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
need_qemu() {
    command -v qemu-system-x86_64 >/dev/null || return 0
    qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"' || return 0
    return 1
}
need_pkgs=()
need_qemu && need_pkgs+=(qemu-system-x86)
[ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || need_pkgs+=(ovmf)
command -v bochs-bin >/dev/null || need_pkgs+=(bochs bochsbios vgabios bochs-sdl)
command -v python3 >/dev/null || need_pkgs+=(python3)
# A stock iperf3 (3.12 on Debian 12) on the host, for the interoperability tests.
command -v iperf3 >/dev/null || need_pkgs+=(iperf3)

if [ ${#need_pkgs[@]} -gt 0 ] && [ "$check_only" = 1 ]; then
    say "missing: ${need_pkgs[*]}"
    say "install with: ./scripts/install-prereqs.sh (Debian 12: apt-get install -t bookworm-backports ${need_pkgs[*]})"
    exit 1
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ ! -r /etc/os-release ] || ! command -v apt-get >/dev/null; then
        say "missing: ${need_pkgs[*]}; install QEMU >= 8 (with -device igb), OVMF and Bochs 2.7 with your package manager"
        exit 1
    fi
    . /etc/os-release
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    backports=""
    if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
        if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
            say "adding bookworm-backports (QEMU 7.2 in bookworm has no igb)"
            echo 'deb http://deb.debian.org/debian bookworm-backports main' | $sudo tee /etc/apt/sources.list.d/backports.list >/dev/null
        fi
        backports="-t bookworm-backports"
    elif [ "${ID:-}" != ubuntu ] && [ "${ID:-}" != debian ]; then
        say "missing: ${need_pkgs[*]}; this is ${PRETTY_NAME:-an unknown system}: install QEMU >= 8 (with igb), OVMF and Bochs 2.7 yourself"
        exit 1
    fi
    say "installing: ${need_pkgs[*]}"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $backports "${need_pkgs[@]}" >/dev/null
    if need_qemu; then
        say "installed QEMU has no igb device: QEMU >= 8.0 is required"
        exit 1
    fi
fi

if ! command -v rustup >/dev/null; then
    say "rustup not found: install it from https://rustup.rs, then run this script again"
    exit 1
fi
if ! rustup toolchain list | grep -q "^$toolchain"; then
    if [ "$check_only" = 1 ]; then
        say "missing: Rust toolchain $toolchain; install with: rustup toolchain install $toolchain --component rust-src,llvm-tools,rustfmt,clippy --target x86_64-unknown-none"
        exit 1
    fi
    say "installing Rust toolchain $toolchain"
fi
[ "$check_only" = 1 ] && exit 0
# Idempotent: rustup only downloads what is missing.
rustup toolchain install "$toolchain" --profile minimal \
    --component rust-src,llvm-tools,rustfmt,clippy --target x86_64-unknown-none >/dev/null 2>&1 ||
    rustup toolchain install "$toolchain" --profile minimal \
        --component rust-src,llvm-tools,rustfmt,clippy --target x86_64-unknown-none
