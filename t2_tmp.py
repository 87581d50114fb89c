import numpy as np, time, sys
from ntkpaths.config import TrainConfig
from ntkpaths.training import train_run
for depth, width, rel, n, data in [(2,128,2.5,32,"digits"),(2,256,2.5,32,"digits"),(2,128,2.5,32,"teacher"),(3,128,2.5,32,"digits"),(2,64,2.5,32,"digits")]:
    cfg = TrainConfig(steps=60, n_train=n, n_test=8, lr_relative=rel, checkpoints=61, data=data)
    t=time.time()
    out = train_run(cfg, depth=depth, width=width, seed=np.random.SeedSequence(1))
    print(depth, width, rel, data, f"{time.time()-t:.1f}s", out["critical_lr"], out["loss_peak"], out["diverged"], np.round(out["loss"][:10],3), out["loss"][-1], flush=True)
