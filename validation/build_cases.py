"""Builds holdout_cases.yaml (run: python3 build_cases.py). Every number is copied from a source
named in the case; derived numbers are computed here with the formula stated in the case notes."""
import copy, yaml

LAT = 'latency_us values (2.0 intra-node, 5.0 inter-node) are nominal defaults, not published'

def dgx_h100(nodes, num_gpus=None):
    return {'name': 'dgx-h100-ndr400',
            'gpu': {'name': 'H100-SXM5-80GB', 'peak_tflops': {'bf16': 989.4, 'fp16': 989.4, 'fp8': 1979.0, 'fp32': 67.0},
                    'memory_gib': 80, 'hbm_gbyte_per_s': 3350},
            'gpus_per_node': 8, 'nodes': nodes,
            'intra_node': {'fabric': 'nvswitch', 'gbyte_per_s_per_gpu': 450, 'latency_us': 2.0},
            'inter_node': {'nics_per_node': 8, 'gbit_per_s_per_nic': 400, 'latency_us': 5.0,
                           'topology': 'rail_optimized', 'oversubscription': 1.0}}

def grand_teton(nodes):
    return {'name': 'meta-grand-teton-h100-96gb-500w',
            'gpu': {'name': 'H100-SXM5-96GB-HBM2e (500 W cap)',
                    'peak_tflops': {'bf16': 989.4, 'fp16': 989.4, 'fp8': 1979.0, 'fp32': 67.0},
                    'memory_gib': 96, 'hbm_gbyte_per_s': 2400},
            'gpus_per_node': 8, 'nodes': nodes,
            'intra_node': {'fabric': 'nvswitch', 'gbyte_per_s_per_gpu': 450, 'latency_us': 2.0},
            'inter_node': {'nics_per_node': 8, 'gbit_per_s_per_nic': 400, 'latency_us': 5.0,
                           'topology': 'fat_tree', 'oversubscription': 1.0}}

GT_NOTES = [
    'cluster (source: docs/performance.md): Grand Teton hosts, 8 H100 per host fully connected by NVLink, 96 GB HBM2e at 2.4 TB/s, '
    '400 Gb/s RDMA per GPU, default 500 W power limit (not 700 W)',
    'peak_tflops INFERRED: the source says the true peak of this 500 W HBM2e H100 is "between SXM and NVL" and unknown, and computes its '
    'MFU with the SXM peak (989 TF/s bf16); the SXM numbers are kept here, so expect this GPU to run somewhat slower than a 700 W SXM5 at '
    'the same settings',
    'intra_node 450 GB/s per direction (NVLink 4 via NVSwitch on HGX H100) and inter_node topology fat_tree, oversubscription 1.0 are INFERRED '
    '(the source gives only 400 Gb/s per GPU)',
    LAT,
]

def llama(size):
    d = {'8b': dict(hidden=4096, heads=32, kv_heads=8, ffn_hidden=14336, L=32, p=8030261248),
         '70b': dict(hidden=8192, heads=64, kv_heads=8, ffn_hidden=28672, L=80, p=70553706496),
         '405b': dict(hidden=16384, heads=128, kv_heads=8, ffn_hidden=53248, L=126, p=405853388800)}[size]
    return {'name': f'Llama 3.1 {size.upper()}', 'family': 'gpt', 'blocks': [{'type': 'causal', 'count': d['L']}],
            'hidden': d['hidden'], 'heads': d['heads'], 'kv_heads': d['kv_heads'], 'ffn_hidden': d['ffn_hidden'],
            'mlp': 'swiglu', 'vocab': 128256, 'tied_embeddings': False, 'params_exact': d['p']}

LLAMA_NOTE = ('model: Llama 3.1 architecture from the Meta config.json (RMSNorm, SwiGLU, GQA with 8 KV heads, RoPE, untied 128256-entry '
              'embedding and output head); params_exact is the HF parameter count')

def strat(dp, tp=1, pp=1, vpp=1, sp=1, sp_method='none', megatron_sp=False, zero=3, ckpt='none', mb=1, gbs=1, stack=None):
    s = {'dp': dp, 'tp': tp, 'pp': pp, 'vpp': vpp, 'sp': sp, 'sp_method': sp_method, 'megatron_sp': megatron_sp,
         'zero': zero, 'ckpt': ckpt, 'micro_batch': mb, 'global_batch': gbs}
    if stack:
        s['stack'] = stack
    return s

def text_wl(seq, gbs, prec='bf16'):
    return {'kind': 'text', 'seq_len': seq, 'global_batch': gbs, 'precision': prec}

cases, dropped = [], []

# ------------------------------------------------------------------------------------------------ torchtitan
TT_SRC = ('pytorch/torchtitan docs/performance.md at commit d4c86e375 (2025-01-30, "update performance and loss converging results"; '
          'runs with torch 1963fc8 2024-12-23, torchao eab345c, torchtitan 9dec370 2024-12-26; same numbers later moved to '
          'benchmarks/llama3_h100_202412_torchtitan.md)')
TT_ASYNC_SRC = ('pytorch/torchtitan benchmarks/asyncTP_llama3_h100_2025-06_torchtitan.md (PyTorch team, June 2025; torch 38410cf9 '
                '2025-06-14, torchtitan 820504e), table "Llama3 70b on 256 H100s with FSDP=32, TP=8, torch.compile, full AC, local batch size 16"')
TT_STACK_FA = ('stack attention flash2: torchtitan calls F.scaled_dot_product_attention(is_causal=True) (torchtitan/models/llama/model.py '
               'at 9dec370); PyTorch nightlies of Dec 2024 do not pick cuDNN SDPA by default on H100 (pytorch/pytorch#138522 made it opt-in '
               'after the 2.5 bugs; pytorch/pytorch#142132, 2024-12-05: nightly SDPA "is not automatically choosing CUDNN"), so the flash '
               '(FlashAttention-2) backend runs')
TT_STACK_FA25 = ('stack attention flash2: torchtitan 820504e torchtitan/models/attention.py ScaledDotProductAttention sets SDPA priority '
                 '[FLASH_ATTENTION, EFFICIENT_ATTENTION, MATH] and adds CUDNN_ATTENTION only on compute capability 10.0 (B200), so H100 runs '
                 'the flash (FlashAttention-2) backend')
SAC_NOTE = ('ckpt selective: torchtitan "selective" AC with selective_ac_option "op" (train_configs/llama3_8b.toml) = per-op SAC that saves '
            'the outputs of SDPA, reduce-scatter and every second matmul and recomputes the rest of the block (elementwise ops, the other '
            'matmuls); this is NOT Korthikanti-style selective recompute of the attention core, so parplan\'s "selective" under-counts the '
            'recomputed matmul FLOPs (roughly half the block\'s linear-layer forward is recomputed)')

def tt8b(cid, tps, stack, prec, notes_extra, n_gpus=8, gbs=16, table='Table 1', confidence='medium', mem=None):
    step = gbs * 8192 / (tps * n_gpus)
    return {'id': cid, 'source': f'{TT_SRC}, {table}', 'model': llama('8b'),
            'workload': text_wl(8192, gbs, prec), 'cluster': grand_teton(n_gpus // 8),
            'strategy': strat(n_gpus, zero=3, ckpt='selective', mb=2, gbs=gbs, stack=stack),
            'measured': {'step_time_s': round(step, 4), 'tokens_per_s_per_gpu': float(tps), 'peak_memory_gib': mem},
            'tolerance': 0.25,
            'notes': [TT_STACK_FA] + notes_extra + [
                f'measured tokens_per_s_per_gpu ({tps}) is published (TPS/GPU read at iteration 90); step_time_s = global_batch x seq_len / '
                f'(TPS/GPU x {n_gpus}) = {gbs} x 8192 / ({tps} x {n_gpus}) is derived',
                f'layout (source): 1D FSDP over {n_gpus} GPUs (FSDP2 fully_shard, reshard after forward -> zero 3), local batch size 2, global batch {gbs}, '
                'no gradient accumulation (torchtitan of Dec 2024 has none)',
                'seq_len 8192 INFERRED from train_configs/llama3_8b.toml at 9dec370 (the table does not restate it)',
                SAC_NOTE, LLAMA_NOTE,
                'precision: bf16 mixed precision (FSDP param_dtype bf16, reduce_dtype fp32 by default in torchtitan 9dec370 -> gradient '
                'reduce-scatter in fp32)' if prec == 'bf16' else
                'precision fp8: torchao Float8Linear (tensorwise dynamic scaling) on the nn.Linear layers; attention and norms stay bf16; '
                'whether FSDP float8 all-gather was on is not stated (the 8B toml leaves it off)',
            ] + GT_NOTES,
            'confidence': confidence}

cases.append(tt8b('torchtitan_llama31_8b_fsdp8_sac_eager_8xh100', 5762, {'attention': 'flash2', 'elementwise': 'eager'}, 'bf16',
                  ['stack elementwise eager: row "FSDP" without torch.compile; norm_type rmsnorm (plain PyTorch RMSNorm)'], mem=82.4))
cases.append(tt8b('torchtitan_llama31_8b_fsdp8_sac_compile_8xh100', 6667, {'attention': 'flash2', 'elementwise': 'fused'}, 'bf16',
                  ['stack elementwise fused: row "FSDP + torch.compile" (per-block torch.compile fuses norms, RoPE, SwiGLU elementwise)'], mem=77.0))
cases.append(tt8b('torchtitan_llama31_8b_fsdp8_sac_compile_fp8_8xh100', 8532, {'attention': 'flash2', 'elementwise': 'fused'}, 'fp8',
                  ['stack elementwise fused: row "FSDP + torch.compile + Float8"'], mem=76.8))
cases.append(tt8b('torchtitan_llama31_8b_fsdp128_sac_compile_128xh100', 6514, {'attention': 'flash2', 'elementwise': 'fused'}, 'bf16',
                  ['stack elementwise fused: row "FSDP + torch.compile" of Table 3 (128 GPUs)'], n_gpus=128, gbs=256, table='Table 3', mem=62.0))

def ttcp(cid, fsdp, cp, seq, tps, mem):
    n = 8
    gbs = fsdp  # local batch 1 per DP rank
    step = gbs * seq / (tps * n)
    return {'id': cid, 'source': f'{TT_SRC}, Table 2 (FSDP + CP + torch.compile + Float8, Llama 3.1 8B, 8 GPUs, local batch size 1, full AC)',
            'model': llama('8b'), 'workload': text_wl(seq, gbs, 'fp8'), 'cluster': grand_teton(1),
            'strategy': strat(fsdp, sp=cp, sp_method='ring' if cp > 1 else 'none', zero=3, ckpt='full', mb=1, gbs=gbs,
                              stack={'attention': 'flash2', 'elementwise': 'fused'}),
            'measured': {'step_time_s': round(step, 4), 'tokens_per_s_per_gpu': float(tps), 'peak_memory_gib': mem},
            'tolerance': 0.25,
            'notes': [TT_STACK_FA + '; under CP the same SDPA flash kernel runs per ring step (torch.distributed.tensor.experimental context_parallel)',
                      'stack elementwise fused: torch.compile (table title)',
                      f'measured tokens_per_s_per_gpu ({tps}) is published; step_time_s = global_batch x seq_len / (TPS/GPU x 8) = {gbs} x {seq} / ({tps} x 8) '
                      'is derived (torchtitan divides the tokens of a rank\'s batch by the non-data-parallel degree, so TPS/GPU x GPUs = tokens per second)',
                      f'layout (source): FSDP {fsdp}, CP {cp}, sequence length {seq}, local batch size 1 -> global batch {gbs} sequences, full activation checkpointing',
                      'sp_method ring: PyTorch context parallel is ring attention with load-balanced (head-tail) sharding for the causal mask; torchtitan '
                      '9dec370 config default experimental.context_parallel_rotate_method = "allgather", i.e. the K/V shards are all-gathered rather than '
                      'passed peer-to-peer (INFERRED from the default; not restated by the table)' if cp > 1 else
                      'CP 1 row: no sequence parallelism',
                      'precision fp8: torchao Float8Linear on nn.Linear (tensorwise dynamic scaling); attention and norms bf16',
                      LLAMA_NOTE] + GT_NOTES,
            'confidence': 'medium'}

cases.append(ttcp('torchtitan_llama31_8b_fsdp4_cp2_64k_fp8_8xh100', 4, 2, 65536, 2540, 84.2))
cases.append(ttcp('torchtitan_llama31_8b_fsdp1_cp8_256k_fp8_8xh100', 1, 8, 262144, 548, 84.5))

def tt70(cid, tps, overlap, prec, src, extra, mem=None):
    n, gbs = 256, 512
    step = gbs * 8192 / (tps * n)
    return {'id': cid, 'source': src, 'model': llama('70b'), 'workload': text_wl(8192, gbs, prec), 'cluster': grand_teton(32),
            'strategy': strat(32, tp=8, megatron_sp=True, zero=3, ckpt='full', mb=16, gbs=gbs,
                              stack={'attention': 'flash2', 'elementwise': 'fused', 'tp_comm_overlap': overlap}),
            'measured': {'step_time_s': round(step, 4), 'tokens_per_s_per_gpu': float(tps), 'peak_memory_gib': mem},
            'tolerance': 0.25,
            'notes': extra + [
                'stack elementwise fused: torch.compile (stated)',
                f'stack tp_comm_overlap {str(overlap).lower()}: ' + ('AsyncTP (torch micro-pipelined all-gather/reduce-scatter matmuls, '
                 'enable_async_tensor_parallel) - the source\'s "Async TP" column' if overlap else 'vanilla TP (the source\'s "Vanilla TP" column)'),
                f'measured tokens_per_s_per_gpu ({tps}) is published; step_time_s = 512 x 8192 / ({tps} x 256) is derived',
                'layout (source): 256 GPUs, FSDP 32 x TP 8, local batch size 16 (per FSDP rank) -> global batch 512 sequences, full AC; '
                'micro_batch 16 = one forward per step (no gradient accumulation, INFERRED: torchtitan default global batch = local x dp)',
                'megatron_sp true: torchtitan\'s TP plan shards the RMSNorm inputs along the sequence (SequenceParallel style) and uses loss '
                'parallel (torchtitan/parallelisms/parallelize_llama.py) - the Korthikanti layout',
                'seq_len 8192 INFERRED from train_configs/llama3_70b.toml (not restated by the table)',
                LLAMA_NOTE] + GT_NOTES,
            'confidence': 'medium'}

cases.append(tt70('torchtitan_llama31_70b_fsdp32_tp8_bf16_vanillatp_256xh100', 597.3, False, 'bf16', TT_ASYNC_SRC + ', row "None (bfloat16)"',
                  [TT_STACK_FA25]))
cases.append(tt70('torchtitan_llama31_70b_fsdp32_tp8_bf16_asynctp_256xh100', 652.4, True, 'bf16', TT_ASYNC_SRC + ', row "None (bfloat16)"',
                  [TT_STACK_FA25]))
cases.append(tt70('torchtitan_llama31_70b_fsdp32_tp8_fp8_asynctp_256xh100', 876, True, 'fp8',
                  TT_SRC + ', Table 4 (2D FSDP + TP + torch.compile + Float8, 256 GPUs, FSDP 32, TP 8, local batch 16, global batch 512, full AC), row "2D + AsyncTP"',
                  [TT_STACK_FA, 'precision fp8: torchao Float8Linear on nn.Linear (tensorwise dynamic scaling; FSDP float8 all-gather not stated)'], mem=67.6))

def tt405(cid, tps, vpp, row, mem):
    n, gbs = 512, 256
    step = gbs * 8192 / (tps * n)
    return {'id': cid, 'source': TT_SRC + f', Table 5 (3D FSDP 8 x TP 8 x PP 8 + torch.compile + Float8 + AsyncTP, 512 GPUs, local batch 32, global batch 256, full AC), row "{row}"',
            'model': llama('405b'), 'workload': text_wl(8192, gbs, 'fp8'), 'cluster': grand_teton(64),
            'strategy': strat(8, tp=8, pp=8, vpp=vpp, megatron_sp=True, zero=2, ckpt='full', mb=4, gbs=gbs,
                              stack={'attention': 'flash2', 'elementwise': 'fused', 'tp_comm_overlap': True}),
            'measured': {'step_time_s': round(step, 4), 'tokens_per_s_per_gpu': float(tps), 'peak_memory_gib': mem},
            'tolerance': 0.25,
            'notes': [TT_STACK_FA, 'stack elementwise fused (torch.compile) and tp_comm_overlap true (AsyncTP): stated in the table title',
                      f'measured tokens_per_s_per_gpu ({tps}) is published; step_time_s = 256 x 8192 / ({tps} x 512) is derived',
                      'layout (source): FSDP 8 x TP 8 x PP 8 = 512 GPUs, local batch 32 per DP rank, global batch 256, full AC',
                      'micro_batch 4 INFERRED: torchtitan 9dec370 parallelisms/pipeline_llama.py splits the local batch into '
                      'experimental.pipeline_parallel_microbatches (default None -> pp = 8) micro-batches -> 32 / 8 = 4',
                      (f'vpp {vpp} INFERRED: with no split points given, torchtitan generate_split_points (parallelisms/pipelining_utils.py) '
                       'uses 2 stages per rank for multi-stage schedules (Interleaved1F1B) and 1 for 1F1B; 126 layers split evenly '
                       '(base 126 // stages, extra layers to middle stages)') ,
                      'zero 2 (from code): torchtitan 9dec370 parallelisms/parallelize_llama.py apply_fsdp sets reshard_after_forward=False for every block when PP is on '
                      '("avoid per-microbatch all-gathers"), so each stage\'s parameters are all-gathered once and kept for all micro-batches while gradients '
                      'and optimizer states stay sharded over the 8-way FSDP group = ZeRO-2 behaviour. parplan (a27e395) refuses zero > 1 with pp > 1 and skips '
                      'the case; zero: 1 is the nearest runnable stand-in (same per-step communication: one parameter all-gather + one gradient reduce-scatter)',
                      'precision fp8: torchao Float8Linear on nn.Linear, FSDP float8 all-gather and precomputed scales on (train_configs/llama3_405b.toml)',
                      'seq_len 8192 from train_configs/llama3_405b.toml (INFERRED; not restated by the table)',
                      LLAMA_NOTE] + GT_NOTES,
            'confidence': 'medium'}

cases.append(tt405('torchtitan_llama31_405b_fsdp8_tp8_pp8_1f1b_512xh100', 100, 1, '1F1B', 82.5))
cases.append(tt405('torchtitan_llama31_405b_fsdp8_tp8_pp8_interleaved_512xh100', 128, 2, 'Interleaved 1F1B', 72.7))

# ------------------------------------------------------------------------------------------------ LLM Foundry MPT
LF_SRC = ('mosaicml/llm-foundry scripts/train/benchmarking/README.md, table "H100 80GB BF16 (Large Scale, >= 128 GPUs)" (added in commit '
          '5e85bd62d, 2024-01-06, "Shashank/new benchmarks (#838)"; sweep settings in scripts/train/benchmarking/sweep.py of that commit)')

def mpt(size):
    d = {'3b': dict(hidden=2560, heads=20), '7b': dict(hidden=4096, heads=32), '70b': dict(hidden=8192, heads=64)}[size]
    L = 80 if size == '70b' else 32
    return {'name': f'MPT-{size}', 'family': 'gpt', 'blocks': [{'type': 'causal', 'count': L}], 'hidden': d['hidden'],
            'heads': d['heads'], 'kv_heads': d['heads'], 'ffn_hidden': 4 * d['hidden'], 'mlp': 'gelu', 'vocab': 50368,
            'tied_embeddings': True}

def lf(cid, size, n, mb, gbs, tps_total, tps_gpu, sps, mfu, hfu, model_tflop, shard, ac, attn, nparams):
    step = gbs * 2048 / tps_total
    zero = 3 if shard == 'FULL_SHARD' else 2
    return {'id': cid, 'source': LF_SRC + f', row "{size} | 2048 | {n}"', 'model': mpt(size),
            'workload': text_wl(2048, gbs), 'cluster': dgx_h100(n // 8),
            'strategy': strat(n, zero=zero, ckpt='full' if ac else 'none', mb=mb, gbs=gbs,
                              stack={'attention': 'flash2', 'elementwise': 'eager'}),
            'measured': {'step_time_s': round(step, 4), 'tokens_per_s_per_gpu': float(tps_gpu), 'tflops_per_gpu': float(model_tflop),
                         'flops_convention': 'llmfoundry_mfu_2023'},
            'tolerance': 0.25,
            'notes': [
                f'stack attention flash2 INFERRED: sweep.py passes --attn_impl {attn} for this size (FlashAttention via the flash-attn package; '
                'llm-foundry setup.py of that commit offers flash-attn 1.0.9 ("gpu" extra) or 2.4.2 ("gpu-flash2"); the benchmark image is not named, '
                'MosaicML\'s H100 images of early 2024 shipped flash-attn 2, hence flash2); elementwise eager: no torch.compile in Composer/torch 2.1, '
                'norm_type low_precision_layernorm (plain PyTorch LayerNorm run in bf16, submit_benchmarks.py)',
                f'measured: Throughput (T/s) {tps_total} and (S/s) {sps} are published; step_time_s = global_batch x 2048 / T/s = {gbs} x 2048 / {tps_total} '
                f'(agrees with {gbs} / {sps} S/s to rounding); tokens_per_s_per_gpu {tps_gpu} published',
                f'tflops_per_gpu {model_tflop} is the table\'s "Model TFLOP" = MFU {mfu}% x 989 TF/s, convention llmfoundry_mfu_2023 (NOTES.md: '
                '6 x n_params x seq + 3 x 4 x n_layers x d_model x seq^2 per sequence, full non-causal s^2 attention, no recompute); '
                f'HFU {hfu}% adds the recompute forward',
                f'layout (source): {n} GPUs, micro batch {mb}, grad accum 1, global batch {gbs} sequences of 2048, PyTorch FSDP (v1) {shard} '
                f'(zero {zero}), activation checkpointing {ac}, no CPU offload, precision amp_bf16',
                'FSDP mixed precision: the table\'s MP Mode column says DEFAULT (Composer: bf16 params/compute, fp32 gradient reduction) while '
                'sweep.py passes PURE (all bf16); the table is taken as authoritative -> gradient reduce-scatter in fp32',
                f'model (llm-foundry scripts/train/yamls/pretrain/mpt-{size}.yaml): d_model {mpt(size)["hidden"]}, n_heads {mpt(size)["heads"]}, '
                f'{mpt(size)["blocks"][0]["count"]} layers, expansion_ratio 4 (GELU MLP), vocab 50368, no biases (MPT default no_bias), tied '
                'input/output embedding (MPT default), learned absolute position embedding (2048 x d_model); published NumParams '
                f'{nparams} includes the position table',
                'cluster INFERRED: MosaicML-platform H100-80GB nodes of 8 GPUs; interconnect not stated - DGX-H100-like NVSwitch + 8 x 400 Gb/s '
                'InfiniBand assumed', LAT],
            'confidence': 'medium'}

cases.append(lf('llmfoundry_mpt3b_zero2_128xh100', '3b', 128, 8, 1024, 2998098, 23422, 1463, 42.43, 42.43, 419, 'SHARD_GRAD_OP', False, 'flash', 2651837440))
cases.append(lf('llmfoundry_mpt7b_fsdp_128xh100', '7b', 128, 6, 768, 1340830, 10475, 654, 45.71, 45.71, 452, 'FULL_SHARD', False, 'flash', 6658859008))
cases.append(lf('llmfoundry_mpt70b_fsdp_fullac_512xh100', '70b', 512, 8, 4096, 515636, 1007, 251, 41.25, 55.0, 408, 'FULL_SHARD', True, 'flash', 64862437376))

# ------------------------------------------------------------------------------------------------ NeMo / Megatron-Bridge
MB_SRC = ('NVIDIA-NeMo/Megatron-Bridge docs/performance-summary-archive.md, section "25.11 NeMo Container" -> Pre-Training Performance -> '
          'System: DGX-H100 (FP8-CS = per-tensor current-scaling FP8); recipes: Megatron-Bridge tag v0.2.0 (2025-11-26, taken as the 25.11 '
          'release - pairing INFERRED from the dates) scripts/performance/configs/')
MB_STACK = ('stack: Megatron-Core with Transformer Engine (Megatron-Bridge default transformer_impl); TE picks cuDNN fused attention on '
            'Hopper; TE fuses norm+linear and bias/SwiGLU; tp_comm_overlap true: the H100 recipe sets cfg.comm_overlap.tp_comm_overlap_cfg = '
            'userbuffers_fp8_h100_* (scripts/performance/configs/llama3*/llama3*_llm_pretrain.py at v0.2.0) on top of the recipe\'s '
            'CommOverlapConfig(tp_comm_overlap=True)')

def mb_flops_note(model_tf):
    return (f'tflops_per_gpu {model_tf} is the published Model TFLOP/s/GPU, convention megatron_bridge_v02 (NOTES.md): Megatron-Bridge '
            'training/utils/flop_utils.py = 12 B s L h^2 [(1 + g/a + s/(2h)) (a d/h) + (f/h)(3/2 SwiGLU)] + 6 B s h V_padded, i.e. CAUSAL-halved '
            'attention (unlike megatron_r08), GQA-aware, logits counted; re-derived here to within 0.2%')

c = {'id': 'nemo2511_llama3_70b_fp8_tp4_pp8_vp5_64xh100',
     'source': MB_SRC + ', row "LLAMA3_70B | 64 | FP8-CS | 128 | 1 | 8192 | 0 | 4 | 8 | 1 | 5 | 1 | 64 | 1602 | 719" (columns #-GPUs, Precision, GBS, MBS, Sequence Length, FSDP, TP, PP, CP, VP, EP, GA, Tokens/sec/GPU, Model TFLOP/sec/GPU)',
     'model': dict(llama('70b'), name='Llama 3 70B'), 'workload': text_wl(8192, 128, 'fp8'), 'cluster': dgx_h100(8),
     'strategy': strat(2, tp=4, pp=8, vpp=5, megatron_sp=True, zero=1, ckpt='none', mb=1, gbs=128,
                       stack={'attention': 'cudnn', 'elementwise': 'fused', 'tp_comm_overlap': True}),
     'measured': {'step_time_s': round(128 * 8192 / (1602 * 64), 4), 'tokens_per_s_per_gpu': 1602.0, 'tflops_per_gpu': 719.0,
                  'flops_convention': 'megatron_bridge_v02'},
     'tolerance': 0.15,
     'notes': [MB_STACK,
               'measured tokens_per_s_per_gpu (1602) is published; step_time_s = 128 x 8192 / (1602 x 64) is derived',
               mb_flops_note(719),
               'layout (source row + LLAMA3_70B_H100_FP8_CS_BASE_CONFIG at v0.2.0): 64 GPUs, TP 4, PP 8, VP 5, CP 1, DP 2, MBS 1, GBS 128, GA 64, '
               'DDP with distributed optimizer (FSDP column 0; recipe use_distributed_optimizer=True -> zero 1, overlap_grad_reduce and '
               'overlap_param_gather True), sequence_parallel True (TP > 1), no recompute (recompute_num_layers unset)',
               'precision fp8: FP8 current scaling (get_precision_config("fp8_cs")); GEMMs in FP8, attention bf16',
               'pipeline: 80 layers over PP 8 x VP 5 = 40 virtual stages of 2 layers (embedding/loss not accounted in the split for 70B)',
               'model: Llama 3 70B = the Llama 3.1 70B architecture (8192 context); vocab 128256 padded by Megatron to a multiple of 128 x TP',
               'cluster: DGX-H100 as in the existing Megatron cases (8 x 400 Gb/s NDR, rail-optimized) - INFERRED, the page says only "DGX-H100"',
               LAT],
     'confidence': 'high'}
cases.append(c)

c = {'id': 'nemo2511_llama31_405b_fp8_tp8_pp8_cp2_vp8_1024xh100',
     'source': MB_SRC + ', row "LLAMA3.1_405B | 1024 | FP8-CS | 512 | 1 | 8192 | 0 | 8 | 8 | 2 | 8 | 1 | 64 | 292 | 737"',
     'model': llama('405b'), 'workload': text_wl(8192, 512, 'fp8'), 'cluster': dgx_h100(128),
     'strategy': strat(8, tp=8, pp=8, vpp=8, sp=2, sp_method='ring', megatron_sp=True, zero=1, ckpt='none', mb=1, gbs=512,
                       stack={'attention': 'cudnn', 'elementwise': 'fused', 'tp_comm_overlap': True}),
     'measured': {'step_time_s': round(512 * 8192 / (292 * 1024), 4), 'tokens_per_s_per_gpu': 292.0, 'tflops_per_gpu': 737.0,
                  'flops_convention': 'megatron_bridge_v02'},
     'tolerance': 0.15,
     'notes': [MB_STACK.replace('llama3*/llama3*_llm_pretrain.py', 'llama31/llama31_llm_pretrain.py (userbuffers_fp8_h100_h16384_tp8_cp2_mbs1_seqlen8192)'),
               'measured tokens_per_s_per_gpu (292) is published; step_time_s = 512 x 8192 / (292 x 1024) is derived',
               mb_flops_note(737),
               'layout (source row + LLAMA31_405B_H100_FP8_CS_BASE_CONFIG at v0.2.0): 1024 GPUs, TP 8, PP 8, CP 2, VP 8, DP 8, MBS 1, GBS 512, GA 64, '
               'distributed optimizer (zero 1), sequence_parallel True, no recompute',
               'sp_method ring: Megatron-Core context parallelism = TE ring attention with P2P K/V exchange (default cp_comm_type "p2p"), '
               'causal load balancing; the TE attention kernel is cuDNN',
               'pipeline: llama31_405b_pretrain_config sets account_for_embedding_in_pipeline_split and account_for_loss_in_pipeline_split -> '
               '126 layers + embedding + loss = 128 slots over 64 virtual stages (2 each)',
               'precision fp8: FP8 current scaling', LLAMA_NOTE + '; vocab padded to a multiple of 128 x TP',
               'cluster: DGX-H100 (INFERRED interconnect, as above)', LAT],
     'confidence': 'high'}
cases.append(c)

# ------------------------------------------------------------------------------------------------ NeMo Automodel (FSDP2)
c = {'id': 'automodel_llama31_70b_fsdp2_cp2_compile_64xh100',
     'source': ('NVIDIA-NeMo/Automodel docs/performance-summary.mdx, Pre-Training Performance, System: DGX-H100, Precision: BF16, row '
                '"Llama3 70B | 64 | 128 | 1 | 1 | 4 | 8192 | 1 | 1 | 2 | - | - | 32 | TE + fsdp2_prefetch | 18.90 | 389 | 866.77" (row added in '
                'commit 2013a4dd6, 2026-04-10, with examples/llm_pretrain/custom_llama3_1_70b_pretrain_benchmark_8nodes.yaml)'),
     'model': llama('70b'), 'workload': text_wl(8192, 128, 'bf16'), 'cluster': dgx_h100(8),
     'strategy': strat(32, sp=2, sp_method='ring', zero=3, ckpt='full', mb=1, gbs=128,
                       stack={'attention': 'flash2', 'elementwise': 'fused'}),
     'measured': {'step_time_s': 18.90, 'tokens_per_s_per_gpu': 866.77, 'tflops_per_gpu': 389.0, 'flops_convention': 'megatron_bridge_v02'},
     'tolerance': 0.15,
     'notes': ['stack attention flash2: the recipe sets attn_implementation sdpa ("required for cp>1"); with CP, nemo_automodel/components/'
               'distributed/cp_utils.py (2013a4dd6) runs SDPA under sdpa_kernel([FLASH_ATTENTION, EFFICIENT_ATTENTION]) inside PyTorch '
               'context_parallel -> FlashAttention-2; linears are Transformer Engine (BackendConfig linear "te" default), RMSNorm torch_fp32, '
               'fused RoPE (TE); elementwise fused: distributed.enable_compile True (torch.compile); optimizer TE FusedAdam',
               'measured step_time_s 18.90 is published ("Time per Global Step", forward+backward+optimizer for the global batch, mock data, '
               'no gradient clipping); 128 x 8192 / (18.90 x 64) = 866.8 tokens/s/GPU agrees with the published 866.77',
               'tflops_per_gpu 389 published (MFU vs 989 TF/s); it matches convention megatron_bridge_v02 (causal-halved attention, GQA, SwiGLU, '
               'logits): 866.77 tok/s/GPU x 4.492e11 FLOP/token = 389.4 TF/s',
               'layout (source row + recipe): 64 GPUs = 8 nodes, FSDP2 dp 32 (reshard_after_forward True -> zero 3), CP 2, TP 1, PP 1, local batch 1, '
               'GA 4, GBS 128, activation_checkpointing True (full per decoder layer), FSDP2 weight prefetch (enable_fsdp2_prefetch)',
               'sp_method ring: PyTorch DTensor context_parallel (ring attention, causal load balancing; rotate method default all-gather of K/V)',
               'precision bf16 (torch_dtype bf16)', LLAMA_NOTE,
               'cluster: DGX-H100 (interconnect INFERRED as the DGX H100 reference: 8 x 400 Gb/s NDR rail-optimized)', LAT],
     'confidence': 'high'}
cases.append(c)

# ------------------------------------------------------------------------------------------------ Wan 2.1 14B (DFM)
N_TOK, M_TXT, D, F, L, H = 37440, 512, 5120, 13824, 40, 40
def wan_train_flops():
    q = kv = D
    self_attn = 2 * N_TOK * D * (q + 2 * kv) + 4 * N_TOK**2 * q + 2 * N_TOK * q * D
    cross = 2 * N_TOK * D * q + 4 * M_TXT * D * kv + 4 * N_TOK * M_TXT * q + 2 * N_TOK * q * D
    mlp = 4 * N_TOK * D * F
    tr = L * (self_attn + cross + mlp)
    pe = 2 * N_TOK * 16 * 4 * D
    te = 2 * M_TXT * (4096 * D + D * D)
    oh = 2 * N_TOK * D * 16 * 4
    return 3 * (tr + pe + te + oh), 3 * L * 4 * N_TOK**2 * q
WAN_F, WAN_ATTN = wan_train_flops()

DFM_SRC = ('NVIDIA-NeMo/DFM docs/performance-summary.md (added 2025-11-26, commits fec3b40/df982be; same table later in '
           'NVIDIA-NeMo/Megatron-Bridge examples/models/wan/performance-summary.md)')
WAN_FLOP_NOTE = (f'step_time_s DERIVED with an ASSUMED FLOP count: the source publishes only Model TFLOP/s/GPU, and its README_perf_test.md says '
                 '"the FLOPs calculation for Wan 2.1 is not currently supported in Megatron-Bridge. Please use a manual calculator"; the calculator '
                 'is not published. Assumed: convention wan_mbridge_2026 (NOTES.md) = the formula Megatron-Bridge later added for Wan '
                 '(commit 318346daf, 2026-08-10, WanModelProvider._get_num_floating_point_operations_with_runtime_stats): 3 x forward matmul FLOPs, '
                 f'full (non-causal) N^2 self-attention, cross-attention to 512 text tokens, patch/text embedders and head = {WAN_F:.4e} FLOP per '
                 f'37440-token sample ({WAN_ATTN / WAN_F:.0%} of it in the N^2 attention terms, so a calculator that counts attention differently '
                 'would move the derived step time by up to that share)')
WAN_MODEL_NOTE = ('model: preset wan2.1-14b (40 blocks, hidden 5120, 40 heads, FFN 13824 GELU, cross-attention to 512 umT5 tokens, patch 1x2x2, '
                  '16 latent channels); the source gives only "Wan 2.1 14B"')
WAN_WL_NOTE = ('workload: the source gives Sequence Length 37440; DFM dfm/src/megatron/recipes/wan/wan.py mock data = F_latents 24, '
               'H_latents 104, W_latents 60 -> 24 x (104/2) x (60/2) = 37440 tokens, i.e. 93 frames of 832 x 480 through the 4x8 causal VAE '
               '(1 + 92/4 = 24 latent frames); 512 x 4096 text embeddings; latents and text embeddings are pre-extracted (mock), no online '
               'VAE/T5 -> online_encoding []')

def wan_wl(gbs):
    return {'kind': 'video', 'frames': 93, 'height': 832, 'width': 480, 'global_batch': gbs, 'precision': 'bf16'}

tf = 325.77
ckpt_list = ['full'] * 8 + ['none'] * 32
c = {'id': 'dfm_wan21_14b_mcore_tp2_cp4_recompute8_128xh100',
     'source': DFM_SRC + ', "Megatron-Core Pre-Training Performance", System: DGX-H100, row "Wan 2.1 14B | 128 | 128 | 1 | 37440 | 0 | 2 | 1 | 1 | 4 | 0 | 0 | 325.77" '
               '(NeMo container 25.09; config examples/megatron/recipes/wan/conf/h100_perf_pretrain_mock.yaml, commit 2eb57c2 2025-11-21)',
     'model': 'wan2.1-14b', 'workload': wan_wl(128), 'cluster': dgx_h100(16),
     'strategy': strat(16, tp=2, sp=4, sp_method='ring', megatron_sp=True, zero=1, ckpt=ckpt_list, mb=1, gbs=128,
                       stack={'attention': 'cudnn', 'elementwise': 'fused', 'tp_comm_overlap': False}),
     'measured': {'step_time_s': round(128 * WAN_F / (tf * 1e12 * 128), 3), 'tflops_per_gpu': tf, 'flops_convention': 'wan_mbridge_2026'},
     'tolerance': 0.25,
     'notes': ['stack: Megatron-Core WanModel with Transformer Engine layers (dfm/src/megatron/model/wan/wan_layer_spec.py), launched with '
               'NVTE_FUSED_ATTN=1 (cuDNN fused attention) and qkv_format thd; elementwise fused (TE); tp_comm_overlap false: the Wan recipe '
               '(dfm/src/megatron/recipes/wan/wan.py) passes comm_overlap_config None',
               WAN_FLOP_NOTE,
               f'step_time_s = 128 samples x {WAN_F:.4e} / ({tf} TF/s x 128 GPUs)',
               'layout (source row + h100_perf_pretrain_mock.yaml): 128 GPUs, TP 2 with sequence_parallel true, CP 4, PP 1, DP 16, MBS 1, GBS 128 '
               '(GA 8), DDP with distributed optimizer (zero 1; the recipe sets overlap_grad_reduce False and overlap_param_gather False, so the '
               'gradient reduce-scatter is NOT overlapped)',
               'ckpt: recompute_granularity full, recompute_method block, recompute_num_layers 8 -> the first 8 of the 40 blocks fully recomputed, '
               'the other 32 not (per-block list)',
               'sp_method ring: Megatron-Core CP with TE attention (default cp_comm_type p2p, ring K/V exchange); cross-attention keys are the 512 '
               'text tokens (not split)',
               WAN_MODEL_NOTE, WAN_WL_NOTE,
               'cluster: DGX-H100 (interconnect INFERRED, as the other NVIDIA cases)', LAT],
     'confidence': 'low'}
cases.append(c)

def wan_auto(cid, n, tfv):
    step = n * WAN_F / (tfv * 1e12 * n)
    return {'id': cid,
            'source': DFM_SRC + f', "NeMo Automodel Pre-Training Performance", System: DGX-H100, row "Wan 2.1 14B | {n} | {n} | 1 | 37440 | 1 | {n} | 1 | 1 | 1 | 1 | 0 | 0 | {tfv}"',
            'model': 'wan2.1-14b', 'workload': wan_wl(n), 'cluster': dgx_h100(n // 8),
            'strategy': strat(n, zero=3, ckpt='full', mb=1, gbs=n, stack={'attention': 'flash2', 'elementwise': 'eager'}),
            'measured': {'step_time_s': round(step, 3), 'tflops_per_gpu': tfv, 'flops_convention': 'wan_mbridge_2026'},
            'tolerance': 0.25,
            'notes': ['stack INFERRED from code, not stated by the row: the Automodel path trains the diffusers WanTransformer3DModel '
                      '(Wan-AI/Wan2.1-T2V-14B-Diffusers) under FSDP2 (dfm/src/automodel/distributed/dfm_parallelizer.py); diffusers Wan attention '
                      'calls F.scaled_dot_product_attention -> flash2 on H100 (cuDNN SDPA is opt-in in torch 2.5-2.9); no torch.compile in the '
                      'DFM Automodel recipe -> elementwise eager',
                      WAN_FLOP_NOTE, f'step_time_s = {n} samples x {WAN_F:.4e} / ({tfv} TF/s x {n} GPUs) (one sample per GPU per step)',
                      f'layout (source row): {n} GPUs, FSDP (=1) with DP {n}, TP/CP/PP 1, MBS 1, GBS {n} -> GA 1',
                      'ckpt full INFERRED: dfm/src/automodel/recipes/finetune.py defaults activation_checkpointing True (checkpoint_wrapper on '
                      'every transformer block); 37440 tokens x 40 blocks of a 14B model could not fit 80 GB without it',
                      'zero 3: FSDP2 fully_shard (reshard after forward assumed)',
                      WAN_MODEL_NOTE, WAN_WL_NOTE, 'cluster: DGX-H100 (interconnect INFERRED)', LAT],
            'confidence': 'low'}

cases.append(wan_auto('dfm_wan21_14b_automodel_fsdp2_8xh100', 8, 175.88))
cases.append(wan_auto('dfm_wan21_14b_automodel_fsdp2_64xh100', 64, 228.85))

MEM_NOTE = ('measured peak_memory_gib is the source\'s Memory(GiB) column: torchtitan logs the CUDA caching allocator\'s max reserved memory, '
            'maximum over all ranks (footnote 1: PP ranks differ, the max is taken) - reserved, so above the allocated peak')
for c in cases:
    m = c['measured']
    if 'peak_memory_gib' in m:
        if m['peak_memory_gib'] is None:
            del m['peak_memory_gib']
        else:
            c['notes'].insert(2, MEM_NOTE)

from pathlib import Path
HERE = Path(__file__).parent
HEADER = (HERE / 'header.txt').read_text()
with open(HERE / 'holdout_cases.yaml', 'w') as fh:
    fh.write(HEADER)
    yaml.safe_dump(cases, fh, sort_keys=False, width=150, allow_unicode=False, default_flow_style=None)
    fh.write((HERE / 'footer.txt').read_text())
print(len(cases), 'cases')
for c in cases:
    print(f"{c['id']:62s} {c['measured'].get('step_time_s')}")
print('WAN_F', WAN_F, WAN_ATTN / WAN_F)
