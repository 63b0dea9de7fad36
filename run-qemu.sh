#!/usr/bin/env bash
# Builds the hypervisor, its guests and a boot image, and boots it headless in QEMU with the
# serial console on this terminal. The exit status is the hypervisor's result: 0 on success.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
    cat <<'USAGE'
Usage: ./run-qemu.sh [OPTIONS]

Boots the CDNA hypervisor in QEMU (headless, serial console on the terminal). By default
it runs iperf3 between a server guest and a client guest, each with its own queue pair on
the emulated 82576 (cdna), and prints both ends' results.

Options:
  --pairs N              iperf3 server/client guest pairs (default 1; at most 4 with cdna)
  --net cdna|sw|none     network mode: the NIC switches (cdna, default) or the hypervisor
                         copies (sw)
  --time SECS            seconds each iperf3 client sends (default 5)
  --streams P            parallel TCP streams per client (default 1)
  --guests N             instead of iperf3, boot N guests running `hello` (max 16)
  --config FILE          boot this VM configuration instead of a generated one
  --firmware bios|uefi   boot through SeaBIOS (default) or OVMF
  --memory SIZE          machine memory, e.g. 512M (default) or 2G
  --accel auto|kvm|tcg   KVM needs nested VMX/SVM on the host; auto (default) uses KVM
                         when the host CPU shows vmx/svm and /dev/kvm opens, else TCG
                         with emulated SVM
  --gdb PORT             start QEMU's GDB stub on PORT and wait for the debugger
  --timeout SECS         kill QEMU after SECS seconds (default: never)
  --no-install           only check prerequisites; never install packages
  -h, --help             show this help

Exit status: 0 when the hypervisor reports success, 1 when it reports failure,
3 on a crash (triple fault), 4 on timeout, 5 when QEMU itself fails, 2 on bad options.
USAGE
}

install=1
args=()
for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
        --no-install) install=0 ;;
        *) args+=("$arg") ;;
    esac
done

if [ "$install" = 1 ]; then
    ./scripts/install-prereqs.sh
else
    ./scripts/install-prereqs.sh --check
fi
exec cargo xtask run "${args[@]}"
