package audit
import ("testing";"context";"time")
func TestProfProof(t *testing.T){
  db,_ := openSQLite(t); l := newLog(t, DialectSQLite, hubKey); appendEvents(t, db, l, 0, 300)
  ctx := context.Background()
  t0 := time.Now()
  for i:=0;i<2000;i++ { l.InclusionProof(ctx, db, uint64(i%300), 300) }
  t.Logf("incl %v", time.Since(t0)/2000)
  t0 = time.Now()
  for i:=0;i<2000;i++ { l.Head(ctx, db) }
  t.Logf("head %v", time.Since(t0)/2000)
  tx,_ := db.Begin(); t0 = time.Now()
  for i:=0;i<2000;i++ { l.InclusionProof(ctx, tx, uint64(i%300), 300) }
  t.Logf("incl in tx %v", time.Since(t0)/2000); tx.Rollback()
}
