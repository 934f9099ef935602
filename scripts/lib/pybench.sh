# shellcheck shell=bash
# What `layercache-bench project` builds on: a Debian bookworm root file system with
# python3-pip (made with debootstrap from the system's Debian mirror, never pulled) and the
# PyPI wheels of its requirements (downloaded once with pip). Both are cached under
# ~/.cache/layercache/pybench so reruns ask no registry. Needs common.sh and docker28.sh
# (lc_docker28_mirror).
#
#   lc_pybench_rootfs          -> prints the rootfs tarball's path (debootstrap on first use)
#   lc_pybench_wheels          -> prints the wheel directory's path (pip download on first use)
#   lc_pybench_import DOCKER TAG  imports the tarball as TAG with the docker CLI DOCKER

LC_PYBENCH_CACHE=${LAYERCACHE_PYBENCH_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/layercache/pybench}
# The project's requirements, and the one the dependency-change scenario adds. Real PyPI
# packages with their dependencies: about 20 wheels.
LC_PYBENCH_REQUIREMENTS=(requests flask pyyaml python-dateutil attrs packaging rich sqlalchemy)
LC_PYBENCH_ADDED=tabulate

lc_pybench_rootfs() {
    local tar=$LC_PYBENCH_CACHE/bookworm-python3-pip.tar root mirror
    if [ -s "$tar" ]; then
        echo "$tar"
        return 0
    fi
    lc_need_root "debootstrap"
    lc_apt_install debootstrap
    mkdir -p "$LC_PYBENCH_CACHE" "$LC_WORK/logs"
    root=$LC_PYBENCH_CACHE/rootfs.new
    rm -rf "$root"
    mirror=$(lc_docker28_mirror)
    lc_log "debootstrap bookworm with python3-pip from $mirror (once; cached in $tar)"
    lc_quiet "$LC_WORK/logs/pybench-debootstrap.log" debootstrap --variant=minbase \
        --include=python3-pip,python3-venv bookworm "$root" "$mirror"
    # What a runner's image would not carry: the downloaded packages and apt's lists.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar --numeric-owner -C "$root" -cf "$tar.new" . && mv "$tar.new" "$tar"
    rm -rf "$root"
    echo "$tar"
}

lc_pybench_wheels() {
    local dir=$LC_PYBENCH_CACHE/wheels
    if [ -f "$dir/.complete" ]; then
        echo "$dir"
        return 0
    fi
    mkdir -p "$dir" "$LC_WORK/logs"
    lc_log "pip download ${LC_PYBENCH_REQUIREMENTS[*]} $LC_PYBENCH_ADDED (once; cached in $dir)"
    # Bookworm's Python is 3.11 on x86_64: wheels for it, whatever Python runs pip here.
    lc_quiet "$LC_WORK/logs/pybench-pip-download.log" python3 -m pip download --quiet \
        --dest "$dir" --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_28_x86_64 --implementation cp \
        "${LC_PYBENCH_REQUIREMENTS[@]}" "$LC_PYBENCH_ADDED"
    touch "$dir/.complete"
    echo "$dir"
}

lc_pybench_import() {
    local docker=$1 tag=$2 tar
    tar=$(lc_pybench_rootfs) || return 1
    "$docker" import --change 'CMD ["/bin/bash"]' "$tar" "$tag" >/dev/null
}
