#!/bin/sh
# The release's first experiment: MobileNetV2, linear quantization of weights and activations,
# HAQ search at latency ratio 0.6 on ImageNet-100, then a 30-epoch fine-tune (HAQ_SPEC §6:
# full precision 72.05 / 90.49, HAQ 71.23 / 90.00 top-1 / top-5).
#
#   IMAGENET=/data/imagenet WEIGHTS=mobilenet_v2.pth sh bench/paper/mobilenetv2_linear.sh
#   VARIANT=day ... (one machine in a day: 112 px, 2,000 / 1,000 image splits, 200 episodes,
#                    10-epoch fine-tune)
#   ESTIMATE=1 ... prints the time it will take and stops.
# IMAGENET is an ImageFolder (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG); WEIGHTS a torchvision or
# HAQ-release MobileNetV2 checkpoint (.pth, .pth.tar). Hardware: HW (default the release's own
# latency table, table:TABLE.npy, when TABLE is given, else bismo-cloud — the release's table is
# BISMO cloud latency at batch 16).
set -eu
here=$(dirname "$0")
. "$here/common.sh"
HAQ=${HAQ:-build/haq}
VARIANT=${VARIANT:-full}
OUT=${OUT:-runs/paper_mnv2_$VARIANT}
TABLE=${TABLE:-}
HW=${HW:-$([ -n "$TABLE" ] && echo "table:$TABLE" || echo bismo-cloud)}
TRAIN_RATE=${TRAIN_RATE:-34.9}   # bench_train mobilenet_v2 224 px batch 32, 2 threads
INFER_RATE=${INFER_RATE:-115.2}
rates mobilenet_v2
if [ "$VARIANT" = day ]; then
    SIZE=112 EPISODES=200 VAL=1000 TRAIN=2000 FT_EPOCHS=10
else
    SIZE=224 EPISODES=600 VAL=10000 TRAIN=20000 FT_EPOCHS=30
fi
tr=$(at_size "$TRAIN_RATE" "$SIZE")
ir=$(at_size "$INFER_RATE" "$SIZE")
# ImageNet-100: 100 classes x ~1,300 train images, 5,000 val images
echo "mobilenet_v2 linear, $VARIANT: $SIZE px; $(hours $EPISODES $TRAIN $VAL "$tr" "$ir" $FT_EPOCHS 128000 5000)"
[ "${ESTIMATE:-0}" = 1 ] && exit 0
: "${IMAGENET:?set IMAGENET to an ImageFolder directory}" "${WEIGHTS:?set WEIGHTS to a .pth}"
DATA="imagenet100:$IMAGENET"
mkdir -p "$OUT"
[ -f "$OUT/fp.safetensors" ] ||
    "$HAQ" import --arch mobilenet_v2 --input "$SIZE" --stem imagenet \
        --torch "$WEIGHTS" --out "$OUT/fp.safetensors" --allow-unknown
"$HAQ" eval --model "$OUT/fp.safetensors" --data "$DATA" | tee "$OUT/fp_eval.txt"
if [ -f "$OUT/search/search.state" ]; then
    "$HAQ" search --resume "$OUT/search" | tee "$OUT/search.txt"
else
    "$HAQ" search --model "$OUT/fp.safetensors" --data "$DATA" --hw "$HW" --metric latency \
        --ratio 0.6 --episodes $EPISODES --warmup 20 --val-size $VAL --train-size $TRAIN \
        --loader-threads 2 --out "$OUT/search" | tee "$OUT/search.txt"
fi
"$HAQ" report "$OUT/search"
"$HAQ" finetune --model "$OUT/fp.safetensors" --policy "$OUT/search/best.policy" --data "$DATA" \
    --epochs $FT_EPOCHS --lr 0.01 --wd 4e-5 --batch 64 --loader-threads 2 \
    --out "$OUT/haq.safetensors" | tee "$OUT/finetune.txt"
"$HAQ" eval --model "$OUT/haq.safetensors" --data "$DATA" --hw "$HW" | tee "$OUT/haq_eval.txt"
