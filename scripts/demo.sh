#!/bin/sh
# The main job on a bundled sample: a real generator's PNG plus a generated
# latent go into a .raiiaf file, which is summarised, extracted and verified.
set -eu
RAIIAF=${1:-build/raiiaf}
SAMPLE=tests/data/sd-webui.png
OUT=${DEMO_DIR:-demo-out}
rm -rf "$OUT"
mkdir -p "$OUT"

step() { printf '\n== %s\n$ %s\n' "$1" "$2"; }

step "Make two latents: the initial noise of seed 42 (torch.randn on the CPU, bit for bit) and a smooth 'final' latent" \
     "raiiaf noise --seed 42 --shape 1,4,128,128 -o $OUT/noise.npy; python3 -c '...' -> $OUT/final.npy"
"$RAIIAF" noise --seed 42 --shape 1,4,128,128 -o "$OUT/noise.npy"
/usr/bin/python3 - "$OUT" <<'PY'
import sys, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(42)
smooth = np.cumsum(np.cumsum(rng.standard_normal((1, 4, 128, 128)), axis=2), axis=3)
final = (smooth / smooth.std()).astype(np.float32)
np.save(f"{out}/final.npy", final)
print(f"noise (1, 4, 128, 128) float32, final {final.shape} {final.dtype}")
PY

step "Create (the noise of --seed 42 is recognised and stored as a 32-byte seed recipe)" \
     "raiiaf create -v -o $OUT/cat.raiiaf --image $SAMPLE --latent initial_noise=... --latent final=... --seed 42 ..."
"$RAIIAF" create -v -o "$OUT/cat.raiiaf" --image "$SAMPLE" \
    --latent initial_noise="$OUT/noise.npy" --latent final="$OUT/final.npy" \
    --model "Stable Diffusion XL" --model-version 1.0 \
    --prompt "a cat on a sofa" --negative-prompt "blurry" --tag cat --tag sofa \
    --seed 42 --steps 30 --sampler euler_a --cfg-scale 7 --scheduler karras

step "Info" "raiiaf info $OUT/cat.raiiaf"
"$RAIIAF" info "$OUT/cat.raiiaf"

step "Extract everything" "raiiaf extract $OUT/cat.raiiaf --all $OUT/extracted"
"$RAIIAF" extract "$OUT/cat.raiiaf" --all "$OUT/extracted"
ls -l "$OUT/extracted"

step "Compare with the inputs" "cmp image; compare latents bit for bit"
cmp "$SAMPLE" "$OUT/extracted/image.png" && echo "image: byte-identical"
/usr/bin/python3 - "$OUT" <<'PY'
import sys, numpy as np
out = sys.argv[1]
for name, src in (("initial_noise", "noise"), ("final", "final")):
    a, b = np.load(f"{out}/{src}.npy"), np.load(f"{out}/extracted/{name}.npy")
    same = a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    print(f"{name}: {'bit-identical' if same else 'DIFFERENT'}")
    if not same:
        sys.exit(1)
PY

step "Verify" "raiiaf verify $OUT/cat.raiiaf"
"$RAIIAF" verify "$OUT/cat.raiiaf"

step "Verify a copy with one flipped bit (expected to fail)" "raiiaf verify $OUT/damaged.raiiaf"
cp "$OUT/cat.raiiaf" "$OUT/damaged.raiiaf"
/usr/bin/python3 -c "
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[5000] ^= 0x10
open(p, 'wb').write(b)" "$OUT/damaged.raiiaf"
if "$RAIIAF" verify "$OUT/damaged.raiiaf"; then echo "damage NOT detected"; exit 1; else echo "damage detected (exit $?)"; fi
printf '\nDemo finished: outputs in %s/\n' "$OUT"
