# rewardlab's one venv helper, sourced by every script that runs a Python reference side (the fixture
# makers, the benchmarks' PyTorch, pandas and official-ImageReward sides, the notebooks) and run the
# same way by `rewardlab bench`, which compiles this file in.
#
#   ensure_venv DIR REQUIREMENTS    prints DIR's python after making sure the venv exists and holds
#                                   REQUIREMENTS (reinstalled when that file's SHA-256 changes)
#   rewardlab_cache                 prints the cache folder: $REWARDLAB_CACHE, else ~/.cache/rewardlab
#
# The venv is created with ${PYTHON:-python3}; pip's output goes to stderr, so that a caller's stdout
# stays the JSON it prints.
rewardlab_cache() {
    echo "${REWARDLAB_CACHE:-$HOME/.cache/rewardlab}"
}

ensure_venv() {
    local venv="$1" requirements="$2" stamp want
    stamp="$venv/.requirements.sha256"
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [ ! -x "$venv/bin/python" ]; then
        echo "-- creating $venv" >&2
        mkdir -p "$(dirname "$venv")"
        "${PYTHON:-python3}" -m venv "$venv" >&2
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "-- installing $(basename "$requirements") into $venv (a first install can take minutes)" >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
        echo "$want" >"$stamp"
    fi
    echo "$venv/bin/python"
}
