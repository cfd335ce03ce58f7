#!/bin/sh
# make demo: the whole HAQ loop on one machine in minutes, every artefact under one directory.
#   1. train a full-precision MobileNetV2 (width 0.35, small-input stem, 16 px) on Fashion-MNIST
#      when /usr/share/datasets/fashion-mnist exists, else on the built-in synthetic set;
#   2. take the largest uniform policy under a bitfusion-edge latency budget;
#   3. search the per-layer bits with the DDPG agent under that uniform policy's own latency, so
#      that HAQ is compared at equal or lower latency (MATCH=0: under the budget itself);
#   4. fine-tune both the same way and measure both on the held-out split;
#   5. print one table (fp32, uniform, HAQ: top-1, latency, energy, size) and the HAQ policy,
#      and write the search's HTML report.
# The budget is 0.8 of all-8/8 by default: on bitfusion-edge the depthwise layers' latency barely
# falls with bits, so all-2-bit already costs ~0.6 of 8/8 for this network and the paper's 0.6
# would leave every policy at 2 bits. RATIO=0.6 runs it anyway.
#
# Environment: HAQ [build/haq]  RUN [runs/demo]  RATIO [0.8]  HW [bitfusion-edge]
#   EPISODES [80]  WARMUP [20]  FP_EPOCHS [10]  FT_EPOCHS [2]  FILL [--fill]  MATCH [1]
#   DATA (overrides the choice)
set -eu
HAQ=${HAQ:-build/haq}
RUN=${RUN:-runs/demo}
RATIO=${RATIO:-0.8}
HW=${HW:-bitfusion-edge}
EPISODES=${EPISODES:-80}
WARMUP=${WARMUP:-20}
FP_EPOCHS=${FP_EPOCHS:-10}
FT_EPOCHS=${FT_EPOCHS:-2}
FMNIST=/usr/share/datasets/fashion-mnist
# --fill: after the wall, the budget's slack buys the cheapest extra bits (FILL= turns it off)
FILL=${FILL---fill}

if [ -n "${DATA:-}" ]; then
    SPLITS=${SPLITS:-}
    say="the data set $DATA"
elif [ -d "$FMNIST" ]; then
    DATA="fashion-mnist:$FMNIST"
    # float training and the final fine-tune on 12,000 training images (2,000 more held for
    # validation); accuracy on the 10,000 test images
    SPLITS="--val-size 2000 --train-size 12000"
    say="Fashion-MNIST ($FMNIST), resized to 16 px"
else
    DATA="synthetic:classes=10,size=32,train=10000,val=2000"
    SPLITS=""
    say="the built-in synthetic set (10 classes, 10,000 + 2,000 images), resized to 16 px"
fi
mkdir -p "$RUN"
step() { echo "== demo $(date +%H:%M:%S): $*" >&2; }
val() { grep '^result ' "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
t0=$(date +%s)
step "data: $say; run directory $RUN"

FP="$RUN/fp32.safetensors"
if [ ! -f "$FP" ]; then
    step "1/5 training the float MobileNetV2 (width 0.35, 16 px, small stem), $FP_EPOCHS epochs"
    # shellcheck disable=SC2086
    "$HAQ" train --arch mobilenet_v2 --width 0.35 --input 16 --classes 10 --data "$DATA" \
        --epochs "$FP_EPOCHS" --lr 0.05 --batch 64 $SPLITS --out "$FP" | tee "$RUN/train.txt"
fi
"$HAQ" eval --model "$FP" --data "$DATA" --hw "$HW" --policy w8a8 > "$RUN/fp32_eval.txt"

U="$RUN/uniform"
step "2/5 the uniform baseline: the largest k/k under $HW latency <= $RATIO x 8/8"
[ -f "$U/search.state" ] ||
    "$HAQ" search --strategy uniform --quiet --model "$FP" --data "$DATA" --hw "$HW" \
        --metric latency --ratio "$RATIO" --val-size 400 --train-size 600 --out "$U" \
        > "$RUN/uniform.txt"
# HAQ's budget: the uniform policy's own cost, so that HAQ is compared at equal or lower latency
# (MATCH=0: the same ratio for both)
HAQ_RATIO=$RATIO
[ "${MATCH:-1}" = 1 ] &&
    HAQ_RATIO=$(awk -v r="$(val "$RUN/uniform.txt" cost_ratio)" 'BEGIN { printf "%.6f", int(r * 1e6) / 1e6 }')

S="$RUN/search"
if [ -f "$S/search.state" ]; then
    step "3/5 resuming the HAQ search in $S"
    "$HAQ" search --resume "$S" | tee "$RUN/search.txt"
else
    step "3/5 HAQ search: $EPISODES episodes (warm-up $WARMUP), $HW latency <= $HAQ_RATIO x 8/8"
    "$HAQ" search --model "$FP" --data "$DATA" --hw "$HW" --metric latency --ratio "$HAQ_RATIO" \
        --episodes "$EPISODES" --warmup "$WARMUP" --val-size 400 --train-size 600 $FILL \
        --out "$S" | tee "$RUN/search.txt"
fi
"$HAQ" report "$S" > "$RUN/report.txt"

for k in uniform haq; do
    pol="$U/best.policy"
    [ $k = haq ] && pol="$S/best.policy"
    step "4/5 fine-tuning the $k policy: $FT_EPOCHS epochs, cosine lr from 0.01"
    # shellcheck disable=SC2086
    [ -f "$RUN/$k.safetensors" ] ||
        "$HAQ" finetune --model "$FP" --policy "$pol" --data "$DATA" --epochs "$FT_EPOCHS" \
            --lr 0.01 --batch 64 $SPLITS --out "$RUN/$k.safetensors" > "$RUN/${k}_ft.txt"
    "$HAQ" eval --model "$RUN/$k.safetensors" --data "$DATA" --hw "$HW" > "$RUN/${k}_eval.txt"
done

step "5/5 results"
row() { # label eval-file size-key
    printf "| %-8s | %6.2f | %10.5f | %9.5f | %10s | %5.3f |\n" "$1" "$(val "$2" top1)" \
        "$(val "$2" latency_ms)" "$(val "$2" energy_mj)" "$(val "$2" "$3")" \
        "$(val "$2" cost_ratio)"
}
{
    echo "HAQ demo on $say; $HW latency: uniform <= $RATIO x all-8/8, HAQ <= $HAQ_RATIO"
    echo "(the uniform policy's own cost); $(date -u +%Y-%m-%d), $(nproc) cores"
    echo
    echo "| policy   | top-1  | latency ms | energy mJ | size bytes | cost  |"
    echo "|----------|--------|------------|-----------|------------|-------|"
    row fp32 "$RUN/fp32_eval.txt" fp32_bytes
    row uniform "$RUN/uniform_eval.txt" size_bytes
    row HAQ "$RUN/haq_eval.txt" size_bytes
    echo
    echo "fp32 row: latency and energy of the network at 8/8 on $HW (the budget's reference), size of"
    echo "its fp32 weights; cost = latency against 8/8. Uniform policy: $(sed -n 3p "$U/best.policy" | awk '{print "W" $2 "A" $3}')."
    echo "HAQ policy (HAQ list form, [w, a] per layer):"
    cat "$S/best.haq"
    echo "Report: $S/report.html"
} | tee "$RUN/table.md"
printf "result fp32_top1=%s uniform_top1=%s haq_top1=%s uniform_latency_ms=%s haq_latency_ms=%s seconds=%d run_dir=%s\n" \
    "$(val "$RUN/fp32_eval.txt" top1)" "$(val "$RUN/uniform_eval.txt" top1)" \
    "$(val "$RUN/haq_eval.txt" top1)" "$(val "$RUN/uniform_eval.txt" latency_ms)" \
    "$(val "$RUN/haq_eval.txt" latency_ms)" $(($(date +%s) - t0)) "$RUN"
