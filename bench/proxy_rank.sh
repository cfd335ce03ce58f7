#!/bin/sh
# Does the search's short per-episode fine-tune rank policies as the final fine-tune does?
# Each policy gets the final fine-tune (top-1 on the held-out split, mean over FT_SEEDS) and,
# for each proxy setting, REPS episodes of the search's own episode (haq search --strategy
# policy: restore, quantize, calibrate, fine-tune, evaluate on the search's validation
# split). Writes OUT/table.csv (one row per policy) and OUT/rank.md (each proxy's Spearman rank
# correlation with the final top-1, and the rank it gives each policy).
#
#   MODEL=runs/fp.safetensors POLICIES="runs/a.haq runs/b.policy w4a4" \
#     DATA=fashion-mnist:/usr/share/datasets/fashion-mnist sh bench/proxy_rank.sh
#
# Environment (defaults in brackets): HAQ [build/haq]  OUT [runs/proxy_rank]  MODEL (a float
#   checkpoint)  POLICIES (files, HAQ lists or w4a4 shorthands, space-separated)  DATA
#   [synthetic:classes=10,size=32,train=5000,val=1000]  HW [bismo-cloud] (prices the episode
#   only: the policy strategy does not enforce a budget)  SPLIT [--val-size 1000]
#   PROXIES ["0.001/600 0.01/1200"] (per-episode fine-tune lr / train images; the first is the
#   release's lr)  REPS [3]  SEARCH_ARGS [] (e.g. --a-thresh mse)  FT_EPOCHS [1]  FT_LR [0.01]
#   FT_ARGS [] (e.g. --val-size 2000 --train-size 12000 --a-thresh mse)  FT_SEEDS [1]
#   BATCH [64]
set -eu
HAQ=${HAQ:-build/haq}
OUT=${OUT:-runs/proxy_rank}
MODEL=${MODEL:?MODEL: the float checkpoint}
POLICIES=${POLICIES:?POLICIES: the policies to rank}
DATA=${DATA:-synthetic:classes=10,size=32,train=5000,val=1000}
HW=${HW:-bismo-cloud}
SPLIT=${SPLIT:---val-size 1000}
PROXIES=${PROXIES:-0.001/600 0.01/1200}
REPS=${REPS:-3}
SEARCH_ARGS=${SEARCH_ARGS:-}
FT_EPOCHS=${FT_EPOCHS:-1}
FT_LR=${FT_LR:-0.01}
FT_ARGS=${FT_ARGS:-}
FT_SEEDS=${FT_SEEDS:-1}
BATCH=${BATCH:-64}

mkdir -p "$OUT"
val() { grep '^result ' "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
mean() { awk '{s += $1; n++} END {printf "%.2f", s / n}'; }

CSV="$OUT/table.csv"
printf 'policy,final_top1' > "$CSV"
for p in $PROXIES; do printf ',proxy_%s' "$(echo "$p" | tr / _)" >> "$CSV"; done
echo >> "$CSV"
i=0
for pol in $POLICIES; do
    i=$((i + 1))
    D="$OUT/p$i"
    mkdir -p "$D"
    row="$(basename "$pol")"
    for f in $FT_SEEDS; do
        if [ ! -f "$D/eval_s$f.txt" ]; then
            # shellcheck disable=SC2086
            "$HAQ" finetune --model "$MODEL" --policy "$pol" --data "$DATA" \
                --epochs "$FT_EPOCHS" --lr "$FT_LR" --batch "$BATCH" --seed "$f" $FT_ARGS \
                --out "$D/ft_s$f.safetensors" > "$D/ft_s$f.txt"
            "$HAQ" eval --model "$D/ft_s$f.safetensors" --data "$DATA" > "$D/eval_s$f.txt"
        fi
        val "$D/eval_s$f.txt" top1
    done | mean > "$D/final.txt"
    row="$row,$(cat "$D/final.txt")"
    for p in $PROXIES; do
        lr=${p%/*} n=${p#*/}
        S="$D/proxy_$(echo "$p" | tr / _)"
        if [ ! -f "$S/search.state" ] || ! grep -q "episodes_done = $REPS" "$S/search.state"; then
            rm -rf "$S"
            # shellcheck disable=SC2086
            "$HAQ" search --strategy policy --policy "$pol" --episodes "$REPS" --quiet \
                --model "$MODEL" --data "$DATA" --hw "$HW" $SPLIT --train-size "$n" \
                --ft-lr "$lr" --batch "$BATCH" $SEARCH_ARGS --out "$S" > "$S.txt"
        fi
        row="$row,$(tail -n +2 "$S/episodes.csv" | cut -d, -f3 | mean)"
    done
    echo "$row" >> "$CSV"
    echo "$row" >&2
done

# Spearman's rho of each proxy column against the final top-1 (average ranks for ties)
awk -F, '
function ranks(col, r,    i, j, k, c) {
    for (i = 1; i <= n; i++) {
        c = 0; k = 0
        for (j = 1; j <= n; j++) { if (v[j, col] > v[i, col]) c++; else if (v[j, col] == v[i, col]) k++ }
        r[i] = c + (k + 1) / 2
    }
}
NR == 1 { for (c = 2; c <= NF; c++) name[c] = $c; nc = NF; next }
{ n++; pol[n] = $1; for (c = 2; c <= NF; c++) v[n, c] = $c }
END {
    ranks(2, rf)
    printf "| policy | final top-1 (rank) |"
    for (c = 3; c <= nc; c++) printf " %s (rank) |", name[c]
    printf "\n|---|---|"
    for (c = 3; c <= nc; c++) printf "---|"
    printf "\n"
    for (c = 3; c <= nc; c++) { ranks(c, rr); for (i = 1; i <= n; i++) R[c, i] = rr[i] }
    for (i = 1; i <= n; i++) {
        printf "| %s | %.2f (%g) |", pol[i], v[i, 2], rf[i]
        for (c = 3; c <= nc; c++) printf " %.2f (%g) |", v[i, c], R[c, i]
        printf "\n"
    }
    printf "\n"
    for (c = 3; c <= nc; c++) {
        d2 = 0
        for (i = 1; i <= n; i++) d2 += (R[c, i] - rf[i]) ^ 2
        printf "- %s: Spearman rho %.3f against the final top-1 over %d policies\n", name[c],
            1 - 6 * d2 / (n * (n * n - 1)), n
    }
}' "$CSV" > "$OUT/rank.md"
cat "$OUT/rank.md"
