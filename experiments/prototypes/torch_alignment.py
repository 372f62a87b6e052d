"""PyTorch prototype of rewardlab's default reward model, cut down to what matters for alignment:
the same FiLM-conditioned convolution stem (16x16 patches), one text layer, one cross-attention
block and pooled readout, trained on the same prompts with the overall head's Bradley-Terry loss
and the alignment head regressed on the rating. It trains in about 90 s on 2 cores, a third of
the Rust run, so model and loss ideas can be screened here before they are built in burn.

`--pre N` first trains the image stem (and the text encoder) alone for N epochs, contrastively or,
with `--bow`, to predict the prompt's words from the image, and prints after each epoch a probe of
what it learned: per word class, how often a held-out image rated 7 prefers its own prompt to a
one-word variant (contrastive), or how often the drawn shape's and colour's words get the highest
logit among the shape and colour words (`--bow`).

`--pre N --pre-task attr` pretrains the stem instead to classify, per image, the attributes its
prompt names once (colour, shape, count, size, style): from the images rated at least `--bow-min`,
or with `--attr-clean 1` from the images the ground truth says are error-free (perfect labels, a
stand-in for an image tower pretrained elsewhere). `--device cuda` runs on a GPU; `grid.sh` runs a
list of variants in parallel there.

Reproduces the Rust default's held-out alignment figure closely (0.505 against 0.540). Usage:

    rewardlab train --out runs/default
    rewardlab eval --run runs/default --dataset WORLD --split train --baseline none --resamples 10
    python torch_alignment.py --world WORLD --run runs/default [--blocks 2] [--clip 1 --clip-sub 2] ...

WORLD is the default world's folder (~/.cache/rewardlab/world-1500-0). Needs torch, pandas,
pillow, pyarrow. See experiments/prototypes/README.md for the figures measured with it.
"""
import argparse
import math
import os
import re
import sys
import time

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

import world_data

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
ap = argparse.ArgumentParser()
ap.add_argument("--world", default=os.path.expanduser("~/.cache/rewardlab/world-1500-0"))
ap.add_argument("--run", required=True, help="run folder of `rewardlab train` (for the split)")
ap.add_argument("--cache", default="/tmp/rewardlab-prototypes")
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--lr", type=float, default=0.002, help="start of the cosine schedule")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--bp", type=int, default=16, help="prompts per batch")
ap.add_argument("--d", type=int, default=64)
ap.add_argument("--flip", type=int, default=1, help="mirror a seeded half of the prompts")
ap.add_argument("--film", type=int, default=1, help="condition the stem on the pooled prompt")
ap.add_argument("--blocks", type=int, default=0, help="FiLM residual blocks at 16x16")
ap.add_argument("--block", default="full", choices=["full", "dw"], help="3x3+3x3 or depthwise+1x1")
ap.add_argument("--img-layers", type=int, default=0, help="self-attention layers over patches")
ap.add_argument("--fusion-layers", type=int, default=1)
ap.add_argument("--null", type=int, default=0, help="learned keys the prompt may attend to instead of a patch")
ap.add_argument("--prod", type=int, default=0, help="add a projection of query * attended value")
ap.add_argument("--bt", type=float, default=1.0, help="weight of the overall head's loss")
ap.add_argument("--sub-every", type=int, default=0, help="one-word substituted negative every k-th image")
ap.add_argument("--sub-min", type=float, default=0, help="... only for images rated at least this")
ap.add_argument("--sub-w", type=float, default=1.0)
ap.add_argument("--clip", type=float, default=0, help="weight of a CLIP-style contrastive loss on the unconditioned stem")
ap.add_argument("--clip-min", type=float, default=6, help="... over images rated at least this")
ap.add_argument("--clip-sub", type=int, default=0, help="... with this many substituted variants per prompt as extra texts")
ap.add_argument("--train-prompts", type=int, default=0, help="a seeded subset of the training prompts (0: all), for data-size comparisons")
ap.add_argument("--pre", type=int, default=0, help="epochs of a pretraining loss alone (see --pre-task) before the reward heads train")
ap.add_argument("--pre-lr", type=float, default=0.002)
ap.add_argument("--bow", type=float, default=0, help="weight of predicting the prompt's words from the unconditioned stem (with --pre: pretrain on it instead of the contrastive loss)")
ap.add_argument("--device", default="cpu", help="cpu or cuda")
ap.add_argument("--down", type=int, default=0, help="one more stride-2 convolution and a 3x3 one: 8x8 patches that see whole objects")
ap.add_argument("--shift", type=int, default=0, help="translate each training prompt's images by up to this many pixels")
ap.add_argument("--wd", type=float, default=0.0, help="AdamW weight decay")
ap.add_argument("--curriculum", type=int, default=0, help="train the first N epochs on the prompts that name one shape only")
ap.add_argument("--attr", type=float, default=0, help="weight of per-word-class classification (shape, colour, count, ...) from the unconditioned stem, on images rated at least --bow-min whose prompt names one word of the class")
ap.add_argument("--al-pair", type=float, default=0, help="weight of a within-prompt pairwise loss on the alignment ratings (Bradley-Terry on strictly higher-rated images)")
ap.add_argument("--pre-task", default="auto", choices=["auto", "attr"], help="what --pre trains: auto = --bow or the contrastive loss; attr = the --attr classification alone")
ap.add_argument("--attr-clean", type=int, default=0, help="--attr on the images without any alignment error (ground truth) instead of those rated at least --bow-min: perfect labels, for an upper bound of what a pretrained image tower could give")
ap.add_argument("--bow-min", type=float, default=7, help="... over images rated at least this")
args = ap.parse_args()
torch.manual_seed(args.seed)
rng = np.random.default_rng(args.seed)
imgs, a = world_data.load(args.world, args.run, args.cache)
spearmanr = lambda x, y: (pd.Series(np.asarray(x)).rank().corr(pd.Series(np.asarray(y)).rank()),)
def words(p): return re.findall(r"[a-z0-9]+",p.lower())
vocab={'[PAD]':0,'[CLS]':1}
for p in a.prompt.unique():
    for w in words(p): vocab.setdefault(w,len(vocab))
L=24
def enc(p, swap=False):
    ws=words(p)
    if swap: ws=[{'left':'right','right':'left'}.get(w,w) for w in ws]
    ids=[1]+[vocab[w] for w in ws][:L-1]; return ids+[0]*(L-len(ids))
a['ids']=a.prompt.map(enc); a['ids_sw']=a.prompt.map(lambda p: enc(p,True))
CLASSES=[['red','green','blue','yellow','purple','orange','white','black'],['circle','square','triangle','star','ring','cross','diamond'],['circles','squares','triangles','stars','rings','crosses','diamonds'],['two','three','four'],['small','large'],['flat','outlined','striped','checkered'],['above','below'],['left','right']]
WCLASS={vocab[w]:[vocab[v] for v in c if v!=w and v in vocab] for c in CLASSES for w in c if w in vocab}
def substitute(ids):
    out=[]
    for row in ids.tolist():
        pos=[i for i,t in enumerate(row) if t in WCLASS]
        row=list(row)
        if pos:
            i=pos[rng.integers(len(pos))]; c=WCLASS[row[i]]; row[i]=c[rng.integers(len(c))]
        out.append(row)
    return torch.tensor(out,device=dev)
dev=torch.device(args.device)
X=(torch.tensor(imgs).permute(0,3,1,2).float()/127.5-1).to(dev)
prompts={s:[g.index.values for _,g in a[a.split==s].groupby('prompt_id')] for s in ['train','valid','test']}
rating=torch.tensor(a.alignment.values,dtype=torch.float32,device=dev); rank=torch.tensor(a['rank'].values,dtype=torch.float32,device=dev)
d=args.d
class Block(nn.Module):
    def __init__(s,d,kind):
        super().__init__(); s.kind=kind
        if kind=='full': s.c1=nn.Conv2d(d,d,3,padding=1); s.c2=nn.Conv2d(d,d,3,padding=1)
        else: s.c1=nn.Conv2d(d,d,3,padding=1,groups=d); s.c2=nn.Conv2d(d,d,1)
        s.n=nn.GroupNorm(1,d,affine=False); s.film=nn.Linear(d,2*d); nn.init.zeros_(s.film.weight); nn.init.zeros_(s.film.bias)
    def forward(s,x,p):
        h=F.relu(s.c1(x)); h=s.n(s.c2(h))
        if p is not None:
            g,b=s.film(p).chunk(2,1); h=h*(1+g[:,:,None,None])+b[:,:,None,None]
        return x+F.relu(h)
class Model(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb=nn.Embedding(len(vocab),d); s.tpos=nn.Parameter(torch.randn(1,L,d)*0.02)
        s.tlayer=nn.TransformerEncoderLayer(d,4,128,0.0,batch_first=True,norm_first=True)
        s.c1=nn.Conv2d(3,32,3,2,1); s.c2=nn.Conv2d(32,d,3,2,1)
        s.f1=nn.Linear(d,64); s.f2=nn.Linear(d,2*d)
        for f in [s.f1,s.f2]: nn.init.zeros_(f.weight); nn.init.zeros_(f.bias)
        s.blocks=nn.ModuleList([Block(d,args.block) for _ in range(args.blocks)])
        # only when asked for, so that the other layers start from the same random weights as before
        if args.down: s.c3=nn.Conv2d(d,d,3,2,1); s.c4=nn.Conv2d(d,d,3,1,1); s.f3=nn.Linear(d,2*d); nn.init.zeros_(s.f3.weight); nn.init.zeros_(s.f3.bias)
        s.ipos=nn.Parameter(torch.randn(1,64 if args.down else 256,d)*0.02)
        s.ilayers=nn.ModuleList([nn.TransformerEncoderLayer(d,4,128,0.0,batch_first=True,norm_first=True) for _ in range(args.img_layers)])
        s.inorm=nn.LayerNorm(d)
        s.xq=nn.ModuleList([nn.LayerNorm(d) for _ in range(args.fusion_layers)]); s.xk=nn.ModuleList([nn.LayerNorm(d) for _ in range(args.fusion_layers)])
        s.xa=nn.ModuleList([nn.MultiheadAttention(d,4,batch_first=True) for _ in range(args.fusion_layers)])
        s.xf=nn.ModuleList([nn.Sequential(nn.LayerNorm(d),nn.Linear(d,128),nn.GELU(),nn.Linear(128,d)) for _ in range(args.fusion_layers)])
        s.fnorm=nn.LayerNorm(d); s.proj=nn.Linear(3*d,d)
        s.h_over=nn.Sequential(nn.Linear(d,64),nn.GELU(),nn.Linear(64,1)); s.h_al=nn.Sequential(nn.Linear(d,64),nn.GELU(),nn.Linear(64,1))
        s.nulltok=nn.Parameter(torch.randn(1,max(args.null,1),d)*0.02); s.prodl=nn.ModuleList([nn.Linear(d,d) for _ in range(args.fusion_layers)])
        s.clip_img=nn.Linear(2*d,d); s.clip_txt=nn.Linear(d,d); s.logit_scale=nn.Parameter(torch.tensor(2.0))
        s.bow=nn.Linear(2*d,len(vocab))
    def text(s,ids):
        pad=ids==0; t=s.tlayer(s.emb(ids)+s.tpos,src_key_padding_mask=pad)
        keep=(~pad).float()[:,:,None]; return t,pad,(t*keep).sum(1)/keep.sum(1)
    def pooled(s,x):
        x=s.c2(F.relu(s.c1(x)))
        for blk in s.blocks: x=blk(x,None)
        if args.down: x=s.c4(F.relu(s.c3(x)))
        return torch.cat([x.mean((2,3)),x.amax((2,3))],1)
    def image_only(s,x):
        return s.clip_img(s.pooled(x))
    def forward(s,x,ids):
        t,pad,tp=s.text(ids)
        x=s.c1(x)
        if args.film: g,b=s.f1(tp).chunk(2,1); x=x*(1+g[:,:,None,None])+b[:,:,None,None]
        x=F.relu(x); x=s.c2(x)
        if args.film: g,b=s.f2(tp).chunk(2,1); x=x*(1+g[:,:,None,None])+b[:,:,None,None]
        for blk in s.blocks: x=blk(x,tp)
        if args.down:
            x=s.c3(F.relu(x)); g,b=s.f3(tp).chunk(2,1); x=x*(1+g[:,:,None,None])+b[:,:,None,None]; x=s.c4(F.relu(x))
        B=x.shape[0]; tok=x.flatten(2).transpose(1,2)+s.ipos
        for l in s.ilayers: tok=l(tok)
        tok=s.inorm(tok)
        h=t
        keys=torch.cat([tok,s.nulltok.expand(B,-1,-1)],1) if args.null else tok
        for q,k,at,ff,pl in zip(s.xq,s.xk,s.xa,s.xf,s.prodl):
            kv=k(keys); qq=q(h); ctx=at(qq,kv,kv,need_weights=False)[0]; h=h+ctx
            if args.prod: h=h+pl(qq*ctx)
            h=h+ff(h)
        h=s.fnorm(h); keep=(~pad).float()[:,:,None]
        att=(h*keep).sum(1)/keep.sum(1)
        j=F.gelu(s.proj(torch.cat([att,tok.mean(1),tok.max(1)[0]],1)))
        al=s.h_al(j)[:,0]
        return s.h_over(j)[:,0], al
m=Model().to(dev); opt=torch.optim.AdamW(m.parameters(),lr=args.lr,weight_decay=args.wd)
print('params',sum(p.numel() for p in m.parameters()))
tr=prompts['train']
if args.train_prompts: tr=[tr[k] for k in sorted(np.random.default_rng(1000+args.seed).permutation(len(tr))[:args.train_prompts])]
nb=math.ceil(len(tr)/args.bp); total=nb*args.epochs; step=0
order=rng.permutation(len(tr))
def batch(groups, flipmask=None, shift=0):
    idx=np.concatenate(groups); x=X[idx]
    ids=torch.tensor(np.stack(a.ids.values[idx]),device=dev)
    if flipmask is not None:
        fm=torch.tensor(np.concatenate([[f]*len(g) for f,g in zip(flipmask,groups)]),device=dev)
        x=torch.where(fm[:,None,None,None],x.flip(3),x)
        ids_sw=torch.tensor(np.stack(a.ids_sw.values[idx]),device=dev); ids=torch.where(fm[:,None],ids_sw,ids)
    if shift:
        # one translation per prompt, edges replicated, so its images stay comparable
        xp=F.pad(x,(shift,)*4,mode='replicate'); parts=[]; pos=0
        for g in groups:
            dy,dx=rng.integers(0,2*shift+1,2); parts.append(xp[pos:pos+len(g),:,dy:dy+64,dx:dx+64]); pos+=len(g)
        x=torch.cat(parts)
    return idx,x,ids
def evaluate(split):
    m.eval(); out=[]
    with torch.no_grad():
        gs=prompts[split]
        for i in range(0,len(gs),32):
            idx,x,ids=batch(gs[i:i+32]); o,al=m(x,ids); out.append((idx,o,al))
    m.train(); idx=np.concatenate([o[0] for o in out]); o=torch.cat([o[1] for o in out]).cpu().numpy(); al=torch.cat([o[2] for o in out]).cpu().numpy()
    global last_scores; last_scores=(a.generation_id.values[idx],al,o)
    sub=a.loc[idx]; rho=spearmanr(al,sub.lat_align)[0]
    # pairwise acc overall on strict pairs
    c=t=0
    for pid,gi in pd.Series(range(len(idx))).groupby(sub.prompt_id.values):
        r=sub['rank'].values[gi.values]; s=o[gi.values]
        for i in range(len(r)):
            for j in range(len(r)):
                if r[i]<r[j]: t+=1; c+= s[i]>s[j]
    return rho, c/t
def clip_loss(groups, idx, x, ids, min_rating):
    # unique prompts of the batch (first image of each group), plus optional substituted variants
    keep=(rating[idx]>=min_rating).nonzero()[:,0]
    if len(keep)==0: return None
    firsts=np.cumsum([0]+[len(g_) for g_ in groups[:-1]])
    pid=np.concatenate([[k]*len(g_) for k,g_ in enumerate(groups)])
    tids=ids[firsts]
    if args.clip_sub: tids=torch.cat([tids]+[substitute(tids) for _ in range(args.clip_sub)])
    _,_,tp=m.text(tids); te_=F.normalize(m.clip_txt(tp),dim=1)
    ie=F.normalize(m.image_only(x[keep]),dim=1)
    logits=ie@te_.T*m.logit_scale.exp()
    return F.cross_entropy(logits,torch.tensor(pid,device=dev)[keep])
def bow_loss(idx, x, ids, min_rating):
    keep=(rating[idx]>=min_rating).nonzero()[:,0]
    if len(keep)==0: return None
    target=torch.zeros(len(keep),len(vocab),device=dev); target.scatter_(1,ids[keep],1.0); target[:,0]=0; target[:,1]=0
    return F.binary_cross_entropy_with_logits(m.bow(m.pooled(x[keep])),target)*10
def bow_probe():
    # held-out images rated 7 with one shape word: is the drawn shape's logit the highest among shape words?
    m.eval(); ok=n=0
    shape_ids=[vocab[w] for w in CLASSES[1]+CLASSES[2] if w in vocab]
    with torch.no_grad():
        for gi in prompts['test']:
            idx=np.array([i for i in gi if rating[i]>=7])
            if len(idx)==0: continue
            row=a.ids.values[idx[0]]; named=[t for t in row if t in shape_ids]
            if len(set(named))!=1: continue
            lg=m.bow(m.pooled(X[idx]))[:,shape_ids]
            ok+=(lg.argmax(1)==shape_ids.index(named[0])).sum().item(); n+=len(idx)
    # colour too
    ok2=n2=0; col_ids=[vocab[w] for w in CLASSES[0] if w in vocab]
    with torch.no_grad():
        for gi in prompts['test']:
            idx=np.array([i for i in gi if rating[i]>=7])
            if len(idx)==0: continue
            row=a.ids.values[idx[0]]; named=[t for t in row if t in col_ids]
            if len(set(named))!=1: continue
            lg=m.bow(m.pooled(X[idx]))[:,col_ids]
            ok2+=(lg.argmax(1)==col_ids.index(named[0])).sum().item(); n2+=len(idx)
    m.train(); return f'shape top1 {ok/max(n,1):.2f} (n={n}) colour top1 {ok2/max(n2,1):.2f}'
def clip_probe():
    # held-out images rated 7: does the own prompt beat each of its one-word variants, per word class?
    m.eval(); won={}; n={}
    with torch.no_grad():
        for gi in prompts['test']:
            idx=np.array([i for i in gi if rating[i]>=7])
            if len(idx)==0: continue
            ids0=torch.tensor(np.stack(a.ids.values[idx[:1]]),device=dev)
            row=ids0[0].tolist()
            ie=F.normalize(m.image_only(X[idx]),dim=1)
            _,_,tp=m.text(ids0); own=(ie@F.normalize(m.clip_txt(tp),dim=1).T)[:,0]
            for pos,t in enumerate(row):
                if t not in WCLASS: continue
                cls=CLS_OF[t]
                for alt in WCLASS[t]:
                    r2=list(row); r2[pos]=alt
                    _,_,tp2=m.text(torch.tensor([r2],device=dev)); oth=(ie@F.normalize(m.clip_txt(tp2),dim=1).T)[:,0]
                    won[cls]=won.get(cls,0)+(own>oth).float().sum().item(); n[cls]=n.get(cls,0)+len(idx)
    m.train()
    return ' '.join(f'{k}:{won[k]/n[k]:.2f}' for k in sorted(n))
CLS_OF={vocab[w]:c[0] for c in CLASSES for w in c if w in vocab}
# --attr: the word classes, shapes singular and plural merged; per image the class index or -1
ATTR=[CLASSES[0],CLASSES[1],CLASSES[3],CLASSES[4],CLASSES[5]]
def attr_targets(p):
    ws=[{'crosses':'cross'}.get(w,w[:-1] if w.endswith('s') and w[:-1] in CLASSES[1] else w) for w in words(p)]
    out=[]
    for c in ATTR:
        named={w for w in ws if w in c}
        out.append(c.index(named.pop()) if len(named)==1 else -1)
    return out
ATTR_Y=torch.tensor(np.stack(a.prompt.map(attr_targets).values),device=dev)
m.attr=nn.ModuleList([nn.Linear(2*d,len(c)) for c in ATTR]).to(dev); opt.add_param_group({'params':m.attr.parameters()})
CLEAN=torch.tensor((a.errors=="").values,device=dev)
def attr_loss(idx,x,min_rating):
    keep=(CLEAN[idx] if args.attr_clean else rating[idx]>=min_rating).nonzero()[:,0]
    if len(keep)==0: return None
    f=m.pooled(x[keep]); y=ATTR_Y[idx][keep]; tot=0
    for k,h in enumerate(m.attr):
        ok=y[:,k]>=0
        if ok.any(): tot=tot+F.cross_entropy(h(f[ok]),y[ok,k])
    return tot
def attr_probe():
    m.eval()
    with torch.no_grad():
        te=np.concatenate(prompts['test']); te=te[(rating[te]>=7).cpu().numpy()]
        f=m.pooled(X[te]); y=ATTR_Y[te]
        out=' '.join(f"{c[0]}-class {(h(f).argmax(1)==y[:,k])[y[:,k]>=0].float().mean().item():.2f}" for k,(c,h) in enumerate(zip(ATTR,m.attr)))
    m.train(); return out
one_shape=[g for g in tr if len({w for w in words(a.prompt.values[g[0]]) if w in CLASSES[1]+CLASSES[2]})==1]
if args.pre:
    popt=torch.optim.Adam(m.parameters(),lr=args.pre_lr); t0=time.time()
    for ep in range(args.pre):
        order_p=rng.permutation(len(tr))
        for bi in range(nb):
            groups=[tr[k] for k in order_p[bi*args.bp:(bi+1)*args.bp]]
            fm=rng.random(len(groups))<0.5 if args.flip else None
            idx,x,ids=batch(groups,fm)
            if args.pre_task=='attr': l=attr_loss(idx,x,args.bow_min)
            else: l=bow_loss(idx,x,ids,args.bow_min) if args.bow else clip_loss(groups,idx,x,ids,args.clip_min)
            if l is None: continue
            popt.zero_grad(); l.backward(); popt.step()
        print(f'pre {ep+1} {time.time()-t0:.0f}s loss {l.item():.3f} probe {attr_probe() if args.pre_task=="attr" else bow_probe() if args.bow else clip_probe()}',flush=True)
t0=time.time()
for ep in range(args.epochs):
    for bi in range(nb):
        lr=1e-4+0.5*(args.lr-1e-4)*(1+math.cos(math.pi*step/total)); 
        for gp in opt.param_groups: gp['lr']=lr
        if ep<args.curriculum: groups=[one_shape[k] for k in rng.integers(0,len(one_shape),args.bp)]
        else: groups=[tr[k] for k in order[bi*args.bp:(bi+1)*args.bp]]
        fm=rng.random(len(groups))<0.5 if args.flip else None
        idx,x,ids=batch(groups,fm,args.shift); o,al=m(x,ids)
        # BT within prompt
        loss_bt=[]; pos=0
        for gi in groups:
            n=len(gi); r=rank[gi]; s=o[pos:pos+n]; pos+=n
            M=(r[:,None]<r[None,:]).float()
            if M.sum()>0: loss_bt.append((F.softplus(-(s[:,None]-s[None,:]))*M).sum()/M.sum())
            if args.al_pair:
                ra=rating[gi]; sa=al[pos-n:pos]; Ma=(ra[:,None]>ra[None,:]).float()
                if Ma.sum()>0: loss_bt.append(args.al_pair/args.bt*(F.softplus(-(sa[:,None]-sa[None,:]))*Ma).sum()/Ma.sum())
        l_al=F.mse_loss(al,(rating[idx]-4)/3*2)
        if args.sub_every:
            sel=torch.arange(0,len(idx),args.sub_every,device=dev)
            sel=sel[rating[idx][sel]>=args.sub_min]
            if len(sel)>0:
                _,aln=m(x[sel],substitute(ids[sel]))
                l_al=l_al+args.sub_w*F.softplus(aln-al[sel]).mean()
        if args.bow and not args.pre:
            l_b=bow_loss(idx,x,ids,args.bow_min)
            if l_b is not None: l_al=l_al+args.bow*l_b
        if args.attr:
            l_at=attr_loss(idx,x,args.bow_min)
            if l_at is not None: l_al=l_al+args.attr*l_at
        if args.clip:
            l_clip=clip_loss(groups,idx,x,ids,args.clip_min)
            if l_clip is not None: l_al=l_al+args.clip*l_clip
        loss=args.bt*torch.stack(loss_bt).mean()+l_al
        opt.zero_grad(); loss.backward(); opt.step(); step+=1
    rv,av=evaluate('valid'); print(f'ep {ep+1} {time.time()-t0:.0f}s valid rho {rv:.3f} acc {av:.3f}',flush=True)
rt,at=evaluate('test'); aucs=world_data.error_aucs(pd.DataFrame({'generation_id':last_scores[0],'score':last_scores[1]}),a); rtr,atr=evaluate('train')
print(f'FINAL test rho {rt:.3f} acc {at:.3f} | train rho {rtr:.3f} acc {atr:.3f} | {time.time()-t0:.0f}s', ' '.join(sys.argv[1:]))
if args.attr or args.pre_task=='attr': print('attr probe, test images rated 7: '+attr_probe())
print('test AUC per alignment error: '+' '.join(f'{k} {v:.2f}' for k,v in aucs.items()))
