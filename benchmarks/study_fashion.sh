#!/usr/bin/env bash
# The realistic transfer study (issue 25): resnet20-cifar pretrained on Fashion-MNIST classes
# 0-4 (5,000 images, 6 epochs, 16 px), natural and PGD (L-inf 0.1, 3 steps), 5 paired source
# seeds per arm; transferred to three targets of growing distance: Fashion classes 5-9 (near),
# MNIST digits 5-9 (far), scikit-learn's 8x8 digits (farthest). Every run shares the cached
# sources (--cache-dir), so each pretraining happens once. Needs `apt-get install
# dataset-fashion-mnist`; about 80 min on 2 quiet cores. Each run resumes where it stopped.
#
#   bash benchmarks/study_fashion.sh [RUN...]     # runs: near almp full mnist digits bn schemes lth
set -u
cd "$(dirname "$0")/.."
ET=${ET:-.venv/bin/edge-transfer}
OUT=${OUT:-export/study-fashion}
RESULTS=benchmarks/results
COMMON=(--arch resnet20-cifar --source fashion-mnist:0to4 --source-limit 5000 --pretrain-epochs 6
        --source-seeds 5 --cache-dir "$OUT/cache")
ALL_SPARSITIES=0.8,0.9,0.95,0.98,0.99

study() {  # NAME ARGS...: one study, its report kept beside the JSON; in $OUT/$FOLDER (default NAME)
    local name=$1; shift
    local folder=$OUT/${FOLDER:-$name}
    echo "== $name: $ET study ${COMMON[*]} --output $folder $*"
    "$ET" study "${COMMON[@]}" --output "$folder" --json "$RESULTS/study_fashion_$name.json" "$@" \
        && cp "$folder/report.md" "$RESULTS/study_fashion_$name.md" \
        && cp "$folder/study.png" "$RESULTS/study_fashion_$name.png"
}

run() {
    case $1 in
        # seed 000's comparisons in the product's mode (linear): OMP in both arms, and A-IMP on the
        # robust source against IMP on the natural source, up to 99% sparsity
        near) study near --target fashion-mnist:5to9 --methods omp,aimp/imp --sparsities $ALL_SPARSITIES --modes linear ;;
        # seed 000's other robust ticket: LMP's masks learned on PGD inputs of the target, against
        # the same natural IMP tickets (the near study's folder: its natural cells are reused).
        # A study of its own, so the near study's declared primary keeps its methods
        almp) FOLDER=near study near-almp --target fashion-mnist:5to9 --methods almp/imp --sparsities $ALL_SPARSITIES --modes linear ;;
        # full fine-tuning (LP-FT), long enough to converge on 1,000 target images
        full) study full --target fashion-mnist:5to9 --methods omp --sparsities 0.9,0.98 --modes full --finetune-epochs 10 ;;
        mnist) study mnist --target embedded:mnist-5to9 --methods omp --sparsities $ALL_SPARSITIES --modes linear ;;
        digits) study digits --target embedded:digits --methods omp --sparsities $ALL_SPARSITIES --modes linear ;;
        # BatchNorm ablation: the near study's linear cells start from target statistics (AdaBN)
        bn) for bn in source source-images; do
                study "bn-$bn" --target fashion-mnist:5to9 --methods omp --sparsities 0.9,0.99 --modes linear --batchnorm "$bn"
            done ;;
        # seed 004's schemes on the natural source, drawn with 3 epochs on the 5,000 source images
        schemes) study schemes --target fashion-mnist:5to9 --robust natural --source-seeds 2 \
                     --methods omp,gmp,acdc,woodfisher,rigl,str --sparsities 0.9 --modes linear,full \
                     --draw-epochs 3 --draw-limit 5000 --finetune-epochs 10 ;;
        # seed 004's LTH-T (gmp's mask on the dense source weights) against gmp itself and OMP, from
        # 80% (where seed 004 finds it competitive) to 98%, 3 seeds, the schemes run's settings
        lth) study lth --target fashion-mnist:5to9 --robust natural --source-seeds 3 --methods omp,gmp,ltht \
                 --sparsities 0.8,0.9,0.98 --modes linear,full --draw-epochs 3 --draw-limit 5000 --finetune-epochs 10 ;;
        *) echo "unknown run $1 (near almp full mnist digits bn schemes lth)" >&2; return 2 ;;
    esac
}

for name in "${@:-near almp full mnist digits bn schemes lth}"; do
    for one in $name; do run "$one"; done
done
