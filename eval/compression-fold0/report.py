# The fold-0 compression check (README "Fine-tuned MPNet, compressed"): run from the repository root.
import json
F=['security','crime','human_rights','gender']
gpu=[json.loads(l) for l in open('eval/results/gpu-h100/2026-11-24-mpnet-finetuned.scores.jsonl')]
gpu={r['id']:r for r in gpu if r['fold']==0 and r['split']=='test'}
test=[json.loads(l) for l in open('eval/compression-fold0/test.jsonl')]
def f1(gold,pred):
    out={}
    for f in F:
        tp=sum(f in g and f in p for g,p in zip(gold,pred)); fp=sum(f not in g and f in p for g,p in zip(gold,pred)); fn=sum(f in g and f not in p for g,p in zip(gold,pred))
        out[f]=2*tp/(2*tp+fp+fn) if tp+fp+fn else 0
    return out
gold=[set(t['labels']) for t in test]
res=[('gpu' in t['id']) for t in test]
isres=[t['id'].startswith('S/RES') for t in test]
def show(name,pred):
    a=f1(gold,pred); r=f1([g for g,i in zip(gold,isres) if i],[p for p,i in zip(pred,isres) if i])
    print(f"{name:6s} macro {sum(a.values())/4:.3f} ", ' '.join(f"{f} {a[f]:.3f}" for f in F), f"| resolutions macro {sum(r.values())/4:.3f}")
    return pred
preds={}
preds['gpu']=[set(gpu[t['id']]['predicted']) for t in test]
show('gpu',preds['gpu'])
for m in ['full','r64','r32']:
    rows=[json.loads(l) for l in open(f'eval/compression-fold0/{m}.scores.jsonl')]
    preds[m]=[set(r['predicted']) for r in rows]
    show(m,preds[m])
for m in ['r64','r32','gpu']:
    same=sum(a==b for a,b in zip(preds['full'],preds[m]))
    print(f"{m} vs full (CPU): identical label sets {same}/{len(test)}")
print(len(test), sum(isres))
d = [json.loads(l) for l in open('eval/results/gpu-h200/2026-12-04-mpnet-bitfit.scores.jsonl')]
d = {r['id']: r for r in d if r['fold'] == 0 and r['split'] == 'test'}
show('mpnet-bitfit (H200; default until 2026-12-07)', [set(d[t['id']]['predicted']) for t in test])
