#!/bin/sh
# The quantization table of a trained network: full precision, post-training linear
# quantization at W8A8 / W6A6 / W4A4, W4A4 after quantization-aware fine-tuning, and k-means
# weights at 4 / 3 / 2 bits with and without fine-tuning; plus the packed size of each.
#
#   bench/quant_table.sh                     # MobileNetV2 on the built-in synthetic set
#   DATA=fashion-mnist:/usr/share/datasets/fashion-mnist INPUT=28 CLASSES=10 \
#     TRAIN_ARGS="--val-size 5000 --train-size 12000" bench/quant_table.sh
#
# Environment: HAQ (build/haq), OUT (run directory), DATA, ARCH, WIDTH, INPUT, CLASSES,
# EPOCHS (training), QAT_EPOCHS (fine-tuning, default 1), LR, QAT_LR, BATCH, MODEL (an
# existing float checkpoint: skip training), TRAIN_ARGS (options of train, eval, quantize and
# finetune alike, e.g. the search-split flags --val-size N --train-size M, so that every row
# trains and evaluates on the same images) / Q_ARGS (extra options of quantize / finetune).
# packed_bytes is the size of the packed file (haq export: header + tensor data).
# Output: one line per row on stdout and OUT/table.md, OUT/table.csv.
set -eu
HAQ=${HAQ:-build/haq}
OUT=${OUT:-runs/quant_table}
DATA=${DATA:-synthetic:classes=10,size=32,train=5000,val=1000}
ARCH=${ARCH:-mobilenet_v2}
WIDTH=${WIDTH:-1.0}
INPUT=${INPUT:-32}
CLASSES=${CLASSES:-10}
EPOCHS=${EPOCHS:-10}
QAT_EPOCHS=${QAT_EPOCHS:-1}
LR=${LR:-0.05}
QAT_LR=${QAT_LR:-0.01}
BATCH=${BATCH:-64}
TRAIN_ARGS=${TRAIN_ARGS:-}
Q_ARGS=${Q_ARGS:-}
mkdir -p "$OUT"
MODEL=${MODEL:-}
LABEL="$ARCH w$WIDTH ${INPUT}px"
if [ -n "$MODEL" ]; then LABEL=$(basename "$MODEL"); fi
if [ -z "$MODEL" ]; then
    MODEL=$OUT/fp32.safetensors
    if [ ! -f "$MODEL" ]; then
        "$HAQ" train --arch "$ARCH" --width "$WIDTH" --input "$INPUT" --classes "$CLASSES" \
            --data "$DATA" --epochs "$EPOCHS" --lr "$LR" --batch "$BATCH" $TRAIN_ARGS \
            --out "$MODEL" >"$OUT/train.out" 2>"$OUT/train.log"
    fi
fi

# field NAME of a "result k=v …" line
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p"; }

fp=$("$HAQ" eval --model "$MODEL" --data "$DATA" $TRAIN_ARGS 2>/dev/null | grep '^result' | field top1)
echo "config,method,policy,qat_epochs,top1,delta,packed_bytes,weight_bytes,fp32_weight_bytes" >"$OUT/table.csv"
{
    echo "| $LABEL on $DATA | top-1 | Δ vs fp32 | weights (packed) |"
    echo "|---|---|---|---|"
} >"$OUT/table.md"

row() { # name method policy qat_epochs
    name=$1 method=$2 policy=$3 ep=$4
    ck=$OUT/$(echo "$name" | tr ' /+' '___').safetensors
    if [ "$ep" = 0 ]; then
        r=$("$HAQ" quantize --model "$MODEL" --policy "$policy" --method "$method" --data "$DATA" \
            --batch "$BATCH" $TRAIN_ARGS $Q_ARGS --out "$ck" 2>>"$OUT/quant.log" | grep '^result')
    else
        r=$("$HAQ" finetune --model "$MODEL" --policy "$policy" --method "$method" --data "$DATA" \
            --batch "$BATCH" --epochs "$ep" --lr "$QAT_LR" $TRAIN_ARGS $Q_ARGS --out "$ck" \
            2>>"$OUT/quant.log" | grep '^result')
    fi
    top1=$(echo "$r" | field top1)
    e=$("$HAQ" export --model "$ck" --out "$OUT/packed.safetensors" 2>/dev/null | grep '^result')
    wb=$(echo "$e" | field weight_bytes)
    pb=$(echo "$e" | field file_bytes)
    fb=$(echo "$e" | field fp32_weight_bytes)
    d=$(awk -v a="$top1" -v b="$fp" 'BEGIN { printf "%+.2f", a - b }')
    echo "$name,$method,$policy,$ep,$top1,$d,$pb,$wb,$fb" >>"$OUT/table.csv"
    echo "| $name | $top1 | $d | $wb B |" >>"$OUT/table.md"
    echo "row name=\"$name\" top1=$top1 delta=$d weight_bytes=$wb packed_bytes=$pb"
}

fpb=$("$HAQ" export --model "$MODEL" --policy w8a8 --method kmeans --free-high-bit \
    --out "$OUT/packed.safetensors" 2>/dev/null | grep '^result' | field fp32_weight_bytes)
echo "fp32,none,fp32,0,$fp,+0.00,,$fpb,$fpb" >>"$OUT/table.csv"
echo "| fp32 | $fp | | $fpb B |" >>"$OUT/table.md"
echo "row name=\"fp32\" top1=$fp delta=+0.00 weight_bytes=$fpb"
row "W8A8" linear w8a8 0
row "W6A6" linear w6a6 0
row "W4A4" linear w4a4 0
row "W4A4 + QAT" linear w4a4 "$QAT_EPOCHS"
for b in 4 3 2; do
    row "k-means ${b}-bit" kmeans "w${b}a8" 0
    row "k-means ${b}-bit + FT" kmeans "w${b}a8" "$QAT_EPOCHS"
done
rm -f "$OUT/packed.safetensors"
cat "$OUT/table.md"
