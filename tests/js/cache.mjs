// Drive the official @actions/cache client against a cache service.
//   node cache.mjs save <key> <path>                 -> prints {"cacheId": n}
//   node cache.mjs restore <key> <path> [restore...] -> prints {"matchedKey": "..."|null}
// The service is chosen by the usual env: ACTIONS_RESULTS_URL (+ ACTIONS_CACHE_SERVICE_V2)
// for v2, ACTIONS_CACHE_URL for v1, ACTIONS_RUNTIME_TOKEN for the bearer token.
import * as cache from '@actions/cache';

const [mode, key, path, ...restoreKeys] = process.argv.slice(2);
if (!cache.isFeatureAvailable()) {
  console.error('cache service env is not set');
  process.exit(2);
}
try {
  if (mode === 'save') {
    const cacheId = await cache.saveCache([path], key);
    console.log(JSON.stringify({ cacheId }));
  } else if (mode === 'restore') {
    const matchedKey = await cache.restoreCache([path], key, restoreKeys);
    console.log(JSON.stringify({ matchedKey: matchedKey ?? null }));
  } else {
    console.error(`unknown mode ${mode}`);
    process.exit(2);
  }
} catch (e) {
  console.error(`cache ${mode} failed: ${e?.stack ?? e}`);
  process.exit(1);
}
