"""torchrun support: DistributedDataParallel over the whole objective, one
process per device (gloo on CPU, NCCL on CUDA). Each rank trains on its own
shard of every epoch's permutation and samples its own k points."""
import os

import torch
import torch.distributed as dist


def init_from_env(device="cpu"):
    """(rank, world size); initializes the process group when torchrun set WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if str(device).startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def local_rank():
    return int(os.environ.get("LOCAL_RANK", "0"))


def wrap(objective, world, device):
    """DDP over the objective; DDP also broadcasts rank 0's initial weights."""
    if world <= 1:
        return objective
    from torch.nn.parallel import DistributedDataParallel
    ids = [device.index] if device.type == "cuda" else None
    # With dual BatchNorm's separate affine parameters, batches without a bound
    # pass (warmup, HYDRA's coin) leave the robust weights unused.
    unused = getattr(objective, "dual", False)
    return DistributedDataParallel(objective, device_ids=ids, find_unused_parameters=unused)


def broadcast_object(obj, world):
    if world <= 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0)
    return box[0]


def barrier(world):
    if world > 1:
        dist.barrier()


def check_in_sync(model, world):
    """Raises if the ranks' weights differ (DDP keeps them equal; a mismatch
    means a rank trained on a different graph and its checkpoint would lie)."""
    if world <= 1:
        return
    flat = torch.cat([p.detach().double().flatten() for p in model.parameters()])
    stats = torch.stack([flat.sum(), (flat * torch.arange(1, len(flat) + 1, dtype=flat.dtype)).sum()])
    low, high = stats.clone(), stats.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if not torch.equal(low, high):
        raise RuntimeError("ranks hold different weights after training (checksums %s vs %s)" % (low, high))
