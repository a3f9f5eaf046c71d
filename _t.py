import time, json, os
os.environ["BENCH_STORAGE_RTT_MS"]="5"
import logging; logging.basicConfig(level=logging.ERROR)
from bench import workers, cpu
t=time.perf_counter(); r=workers.async_vs_sync(48); print("async_vs_sync", round(time.perf_counter()-t,1)); print(json.dumps(r))
t=time.perf_counter(); r=cpu.payment_check(20); print("cpu", round(time.perf_counter()-t,1)); print(json.dumps(r))
