#!/bin/sh
# HAQ against the uniform baseline under the same latency budget, over hardware models and
# seeds: train a float MobileNetV2 once, then per (hardware, seed) run the HAQ search and the
# uniform policy, give both the same final fine-tune, and measure both on the held-out split.
# Writes OUT/table.md, OUT/table.csv and OUT/policies.md (the best policies side by side, with
# the mean bits of depthwise and other layers).
#
#   OUT=runs/st DATA=synthetic:classes=10,size=32,train=5000,val=1000 sh bench/search_table.sh
#
# Environment (defaults in brackets):
#   HAQ [build/haq]  OUT [runs/search_table]  DATA [synthetic:classes=10,size=32,train=5000,
#   val=1000]  ARCH [mobilenet_v2]  WIDTH [0.35]  INPUT [32]  CLASSES [10]  FP_EPOCHS [12]
#   FP_LR [0.05]  FP_ARGS []  (extra train flags, e.g. --val-size 2000 --train-size 12000)
#   HWS [bitfusion-edge bismo-edge bismo-cloud]  SEEDS [1 2 3]  RATIO [0.6]  EPISODES [150]
#   RATIO_BITFUSION [0.8] (BitFusion's depthwise latency barely falls with bits: all-2-bit
#   width-0.35 MobileNetV2s cost 0.59-0.66 of 8/8 there, so under 0.6 uniform is 2/2, the
#   only policy at its cost; with WIDTH=1.0 at 16 px 0.6 holds uniform 3/3)
#   RANDOM_SEEDS [first seed] (random search beside HAQ)
#   MATCH [1] (HAQ searches under the uniform policy's own cost, not under the ratio: the
#   comparison is then at equal cost)  FILL [--fill] (spend the wall's slack; empty: off)
#   SIGMA_DECAY [0.98] (the release's 0.99 anneals over 600 episodes, 0.98 over about 150)
#   WARMUP [20]  SPLIT [--val-size 1000 --train-size 600]  SEARCH_ARGS []  FT_EPOCHS [2]
#   FT_LR [0.01]  FT_ARGS []  (e.g. split flags for a train-only subset)  BATCH [64]
#   FT_SEEDS [1 2 3] (final fine-tune seeds, empty for the search seed alone: each policy is
#   fine-tuned once per seed and its top-1 is the mean, which shrinks the fine-tune's own
#   seed-to-seed spread; a rerun with more seeds reuses the searches and fine-tunes done)
#   RERANK [0] (K > 0: the search's K best distinct policies each get the final fine-tune once,
#   with the search's seed and RERANK_ARGS, and the one with the best top-1 on that fine-tune's
#   validation split — RERANK_ARGS' --val-size images of the train split, never the held-out
#   ones — is HAQ's policy, then fine-tuned as any policy; the search's own best is picked on
#   1,000 images after a 600-image fine-tune, and among policies a point apart that pick is
#   mostly noise)  RERANK_ARGS [FT_ARGS] (must hold --val-size)
set -eu
HAQ=${HAQ:-build/haq}
OUT=${OUT:-runs/search_table}
DATA=${DATA:-synthetic:classes=10,size=32,train=5000,val=1000}
ARCH=${ARCH:-mobilenet_v2}
WIDTH=${WIDTH:-0.35}
INPUT=${INPUT:-32}
CLASSES=${CLASSES:-10}
FP_EPOCHS=${FP_EPOCHS:-12}
FP_LR=${FP_LR:-0.05}
FP_ARGS=${FP_ARGS:-}
HWS=${HWS:-bitfusion-edge bismo-edge bismo-cloud}
SEEDS=${SEEDS:-1 2 3}
RATIO=${RATIO:-0.6}
RATIO_BITFUSION=${RATIO_BITFUSION:-0.8}
RANDOM_SEEDS=${RANDOM_SEEDS:-$(echo "$SEEDS" | awk '{print $1}')}
ratio_for() { case $1 in bitfusion-*) echo "$RATIO_BITFUSION" ;; *) echo "$RATIO" ;; esac; }
EPISODES=${EPISODES:-150}
MATCH=${MATCH:-1}
FILL=${FILL---fill}
WARMUP=${WARMUP:-20}
SPLIT=${SPLIT:---val-size 1000 --train-size 600}
SEARCH_ARGS=${SEARCH_ARGS:-}
SIGMA_DECAY=${SIGMA_DECAY:-0.98}
FT_EPOCHS=${FT_EPOCHS:-2}
FT_LR=${FT_LR:-0.01}
FT_ARGS=${FT_ARGS:-}
BATCH=${BATCH:-64}
FT_SEEDS=${FT_SEEDS-1 2 3}
RERANK=${RERANK:-0}
RERANK_ARGS=${RERANK_ARGS-$FT_ARGS}
case " $RERANK_ARGS " in
    *" --val-size "*) ;;
    *) [ "$RERANK" = 0 ] || { echo "search_table: RERANK needs --val-size in RERANK_ARGS" \
        "(a validation split of the train images; the held-out split only measures)" >&2; exit 2; } ;;
esac

mkdir -p "$OUT"
log() { echo "[search_table $(date +%H:%M:%S)] $*" >&2; }
# the value of key= in the last result line of a file
val() { grep '^result ' "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }

FP="$OUT/fp.safetensors"
if [ ! -f "$FP" ]; then
    log "training the float $ARCH (width $WIDTH, $INPUT px) on $DATA"
    # shellcheck disable=SC2086
    "$HAQ" train --arch "$ARCH" --width "$WIDTH" --input "$INPUT" --classes "$CLASSES" \
        --data "$DATA" --epochs "$FP_EPOCHS" --lr "$FP_LR" --batch "$BATCH" $FP_ARGS \
        --out "$FP" > "$OUT/fp.txt"
fi
"$HAQ" eval --model "$FP" --data "$DATA" > "$OUT/fp_eval.txt"
FP_TOP1=$(val "$OUT/fp_eval.txt" top1)
log "float top1 $FP_TOP1"

# the final fine-tune of one policy into dir (once), with FT_ARGS or the given flags
ft_run() { # dir policy seed [flags]
    if [ ! -f "$1/ft.txt" ]; then
        # shellcheck disable=SC2086
        "$HAQ" finetune --model "$FP" --policy "$2" --data "$DATA" --epochs "$FT_EPOCHS" \
            --lr "$FT_LR" --batch "$BATCH" --seed "$3" ${4-$FT_ARGS} --out "$1/ft.safetensors" \
            > "$1/ft.txt"
    fi
}

# final fine-tune + held-out eval of one policy; prints "top1 latency cost"
finetune() { # dir policy seed hw
    ft_run "$1" "$2" "$3"
    [ -f "$1/eval.txt" ] && [ "$1/eval.txt" -nt "$1/ft.safetensors" ] ||
        "$HAQ" eval --model "$1/ft.safetensors" --data "$DATA" --hw "$4" > "$1/eval.txt"
    echo "$(val "$1/eval.txt" top1) $(val "$1/eval.txt" latency_ms) $(val "$1/eval.txt" cost_ratio)"
}

# the mean top-1 of a policy over the final fine-tune seeds; prints "top1 cost runs"
# (uniform: seed f in $U/sf; else the search seed's run in base, seed f's in base/ft_sf)
ft_mean() { # policy hw search-seed uniform|base-dir
    pol=$1 hw=$2 s=$3 base=$4
    sum=0 n=0 cost=NaN
    for f in ${FT_SEEDS:-$s}; do
        if [ "$base" = uniform ]; then d="$U/s$f"; elif [ "$f" = "$s" ]; then d="$base"; else d="$base/ft_s$f"; fi
        mkdir -p "$d"
        set -- $(finetune "$d" "$pol" "$f" "$hw")
        sum=$(awk -v a="$sum" -v b="$1" 'BEGIN {printf "%.6f", a + b}')
        n=$((n + 1)) cost=$3
    done
    echo "$(awk -v a="$sum" -v n="$n" 'BEGIN {printf "%.2f", a / n}') $cost $n"
}

# RERANK: the K best distinct policies of search D, each fine-tuned once with the search's seed;
# prints the episode whose fine-tune scores best on its validation split (ties: the better
# search reward), its policy in $D/rerank/ep<N>.haq (its final fine-tunes: $D/rerank/final_ep<N>)
rerank() { # seed
    R="$D/rerank"
    mkdir -p "$R"
    tail -n +2 "$D/episodes.csv" | sort -t, -k2,2gr -k1,1n | awk -F, '!seen[$11 "," $12]++' |
        head -n "$RERANK" | awk -F, '{n = split($11, w, " "); split($12, a, " "); s = "["
            for (i = 1; i <= n; i++) s = s (i > 1 ? ", " : "") "[" w[i] ", " a[i] "]"
            print $1 "\t" s "]"}' > "$R/candidates.tsv"
    while IFS="$(printf '\t')" read -r ep pol; do
        printf '%s\n' "$pol" > "$R/ep$ep.haq"
        mkdir -p "$R/ep$ep"
        ft_run "$R/ep$ep" "$R/ep$ep.haq" "$1" "$RERANK_ARGS"
        echo "$ep $(val "$R/ep$ep/ft.txt" top1)"
    done < "$R/candidates.tsv" > "$R/val.txt"
    awk 'NR == 1 || $2 > b {b = $2; e = $1} END {print e}' "$R/val.txt"
}

CSV="$OUT/table.csv"
echo "hw,ratio,seed,uniform_bits,uniform_cost,uniform_top1,haq_cost,haq_top1,delta,haq_search_top1,random_best_top1,ft_runs,haq_episode" > "$CSV"
for hw in $HWS; do
    ratio=$(ratio_for "$hw")
    U="$OUT/uniform_$hw"
    if [ ! -f "$U/search.state" ]; then
        # shellcheck disable=SC2086
        "$HAQ" search --strategy uniform --model "$FP" --data "$DATA" --hw "$hw" \
            --ratio "$ratio" $SPLIT --batch "$BATCH" $SEARCH_ARGS --out "$U" > "$U.txt" 2>&1 ||
            { cat "$U.txt" >&2; exit 1; }
    fi
    UB=$(sed -n '3p' "$U/best.policy" | awk '{print $2 "/" $3}')
    hratio=$ratio
    [ "$MATCH" = 1 ] &&
        hratio=$(awk -v r="$(val "$U.txt" cost_ratio)" 'BEGIN { printf "%.6f", int(r * 1e6) / 1e6 }')
    for seed in $SEEDS; do
        D="$OUT/haq_${hw}_s$seed"
        if [ -f "$D/search.state" ] && grep -q "episodes_done = $EPISODES" "$D/search.state"; then
            :
        elif [ -f "$D/search.state" ]; then
            log "resuming $D"
            "$HAQ" search --resume "$D" > "$D.txt"
        else
            log "search $hw seed $seed: $EPISODES episodes"
            # shellcheck disable=SC2086
            "$HAQ" search --model "$FP" --data "$DATA" --hw "$hw" --ratio "$hratio" \
                --episodes "$EPISODES" --warmup "$WARMUP" --seed "$seed" $SPLIT \
                --batch "$BATCH" --sigma-decay "$SIGMA_DECAY" $FILL $SEARCH_ARGS --out "$D" > "$D.txt"
        fi
        R="$OUT/random_${hw}_s$seed"
        case " $RANDOM_SEEDS " in *" $seed "*) want_random=1 ;; *) want_random=0 ;; esac
        if [ $want_random = 1 ] && { [ ! -f "$R/search.state" ] ||
            ! grep -q "episodes_done = $EPISODES" "$R/search.state"; }; then
            rm -rf "$R"
            # shellcheck disable=SC2086
            "$HAQ" search --strategy random --quiet --model "$FP" --data "$DATA" --hw "$hw" \
                --ratio "$hratio" --episodes "$EPISODES" --seed "$seed" $SPLIT --batch "$BATCH" \
                $FILL $SEARCH_ARGS --out "$R" > "$R.txt"
        fi
        set -- $(ft_mean "$U/best.policy" "$hw" "$seed" uniform)
        ut=$1 uc=$2
        if [ "$RERANK" -gt 0 ]; then
            hep=$(rerank "$seed")
            log "$hw seed $seed: of the $RERANK best policies, episode $hep's fine-tune validates best"
            set -- $(ft_mean "$D/rerank/ep$hep.haq" "$hw" "$seed" "$D/rerank/final_ep$hep")
        else
            hep=$(val "$D.txt" best_episode)
            set -- $(ft_mean "$D/best.policy" "$hw" "$seed" "$D")
        fi
        ht=$1 hc=$2 nft=$3
        delta=$(awk -v a="$ht" -v b="$ut" 'BEGIN {printf "%+.2f", a - b}')
        rbest=NaN
        [ -f "$R.txt" ] && rbest=$(val "$R.txt" best_top1)
        echo "$hw,$hratio,$seed,$UB,$uc,$ut,$hc,$ht,$delta,$(val "$D.txt" best_top1),$rbest,$nft,$hep" >> "$CSV"
        log "$hw seed $seed: uniform $UB top1 $ut (cost $uc), HAQ top1 $ht (cost $hc), $delta ($nft fine-tunes each)"
    done
done

# the tables
{
    echo "Float top-1 $FP_TOP1 % ($ARCH width $WIDTH, $INPUT px, $DATA); latency budget: ratio x all-8/8 (MATCH=1: the uniform policy's cost);"
    echo "$EPISODES episodes (warm-up $WARMUP), final fine-tune $FT_EPOCHS epochs at lr $FT_LR (cosine); top-1 the mean over fine-tune seeds ${FT_SEEDS:-= the search seed}."
    echo
    echo "| hardware | ratio | seed | uniform W/A | uniform cost | uniform top-1 | HAQ cost | HAQ top-1 | HAQ − uniform | search best (HAQ) | search best (random) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    tail -n +2 "$CSV" | awk -F, '{printf "| %s | %s | %s | %s | %.3f | %.2f | %.3f | %.2f | %s | %.2f | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11}'
    echo
    tail -n +2 "$CSV" | awk -F, '{n[$1]++; d[$1] += $9; if ($9 > 0) w[$1]++}
        END {for (h in n) printf "- %s: HAQ − uniform %+.2f points on average, HAQ ahead in %d of %d seeds\n", h, d[h] / n[h], w[h], n[h]}' | sort
} > "$OUT/table.md"

# the best policies side by side (seed 1 of each hardware model)
{
    echo "Best HAQ policy per hardware model (first seed): W/A bits per layer; mean bits of the"
    echo "depthwise layers and of the other layers (first and last layers held at 8)."
    echo
    first=$(echo "$SEEDS" | awk '{print $1}')
    printf "| layer | type |"
    for hw in $HWS; do printf " %s |" "$hw"; done
    echo
    printf "|---|---|"
    for hw in $HWS; do printf -- "---|"; done
    echo
    paste -d, $(for hw in $HWS; do echo "$OUT/haq_${hw}_s$first/layers.csv"; done) |
        awk -F, -v n="$(echo "$HWS" | wc -w)" 'NR > 1 {
            printf "| %s | %s |", $2, $3
            for (i = 0; i < n; i++) printf " %s/%s |", $(10 + 15 * i), $(11 + 15 * i)
            printf "\n" }'
    echo
    for hw in $HWS; do
        # rows 3 .. last-1: every layer but the held first and last
        awk -F, -v hw="$hw" 'NR > 2 { t[NR] = $3; w[NR] = $10; a[NR] = $11; n = NR }
            END { for (i = 3; i < n; i++) if (t[i] == "dw") { dw += w[i]; da += a[i]; nd++ }
                                       else { ow += w[i]; oa += a[i]; no++ }
                  printf "- %s: depthwise W %.2f A %.2f (%d layers); others W %.2f A %.2f (%d)\n",
                         hw, dw / nd, da / nd, nd, ow / no, oa / no, no }' \
            "$OUT/haq_${hw}_s$first/layers.csv"
    done
} > "$OUT/policies.md"
cat "$OUT/table.md"
cat "$OUT/policies.md" | tail -n "$(echo "$HWS" | wc -w)"
