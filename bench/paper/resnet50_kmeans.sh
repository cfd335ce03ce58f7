#!/bin/sh
# The release's second experiment: ResNet-50, k-means weight quantization, HAQ search at model
# size ratio 0.1 on ImageNet, then a 100-epoch fine-tune (HAQ_SPEC §6: full precision
# 76.15 / 92.87, HAQ 75.48 / 92.42 top-1 / top-5).
#
#   IMAGENET=/data/imagenet WEIGHTS=resnet50.pth sh bench/paper/resnet50_kmeans.sh
#   VARIANT=day ... (one machine in a day: ImageNet-100 at 112 px, 1,000 / 500 image splits,
#                    150 episodes, 5-epoch fine-tune)
#   ESTIMATE=1 ... prints the time it will take and stops.
set -eu
here=$(dirname "$0")
. "$here/common.sh"
HAQ=${HAQ:-build/haq}
VARIANT=${VARIANT:-full}
OUT=${OUT:-runs/paper_r50_$VARIANT}
TRAIN_RATE=${TRAIN_RATE:-5.6}    # bench_train resnet50 224 px batch 16, 2 threads
INFER_RATE=${INFER_RATE:-17.6}
rates resnet50
if [ "$VARIANT" = day ]; then
    SIZE=112 EPISODES=150 VAL=500 TRAIN=1000 FT_EPOCHS=5 KIND=imagenet100
    FT_IMGS=128000 EVAL_IMGS=5000
else
    SIZE=224 EPISODES=600 VAL=10000 TRAIN=20000 FT_EPOCHS=100 KIND=imagenet
    FT_IMGS=1281167 EVAL_IMGS=50000
fi
tr=$(at_size "$TRAIN_RATE" "$SIZE")
ir=$(at_size "$INFER_RATE" "$SIZE")
echo "resnet50 k-means, $VARIANT: $SIZE px; $(hours $EPISODES $TRAIN $VAL "$tr" "$ir" $FT_EPOCHS $FT_IMGS $EVAL_IMGS)"
[ "${ESTIMATE:-0}" = 1 ] && exit 0
: "${IMAGENET:?set IMAGENET to an ImageFolder directory}" "${WEIGHTS:?set WEIGHTS to a .pth}"
DATA="$KIND:$IMAGENET"
mkdir -p "$OUT"
[ -f "$OUT/fp.safetensors" ] ||
    "$HAQ" import --arch resnet50 --input "$SIZE" --stem imagenet \
        --torch "$WEIGHTS" --out "$OUT/fp.safetensors" --allow-unknown
"$HAQ" eval --model "$OUT/fp.safetensors" --data "$DATA" | tee "$OUT/fp_eval.txt"
if [ -f "$OUT/search/search.state" ]; then
    "$HAQ" search --resume "$OUT/search" | tee "$OUT/search.txt"
else
    "$HAQ" search --method kmeans --model "$OUT/fp.safetensors" --data "$DATA" --metric size \
        --ratio 0.1 --episodes $EPISODES --warmup 20 --val-size $VAL --train-size $TRAIN \
        --loader-threads 2 --out "$OUT/search" | tee "$OUT/search.txt"
fi
"$HAQ" report "$OUT/search"
"$HAQ" finetune --method kmeans --model "$OUT/fp.safetensors" --policy "$OUT/search/best.policy" \
    --data "$DATA" --epochs $FT_EPOCHS --lr 0.01 --wd 1e-5 --batch 64 --loader-threads 2 \
    --out "$OUT/haq.safetensors" | tee "$OUT/finetune.txt"
"$HAQ" eval --model "$OUT/haq.safetensors" --data "$DATA" --hw bismo-cloud --policy \
    "$OUT/search/best.policy" --method kmeans | tee "$OUT/haq_eval.txt"
