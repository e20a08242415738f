"""A TCP proxy that records each connection's client->server bytes to OUT_DIR/<prefix>-<n>.bin."""
import os, socket, sys, threading
listen_port, target_port, out_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
prefix = {'v': 'session'}
counter = [0]
lock = threading.Lock()

def pump(src, dst, record):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if record is not None:
                record.write(data); record.flush()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try: dst.shutdown(socket.SHUT_WR)
        except OSError: pass

def serve():
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(('127.0.0.1', listen_port)); ls.listen(64)
    while True:
        client, _ = ls.accept()
        with lock:
            counter[0] += 1
            name = open(os.path.join(out_dir, 'PREFIX')).read().strip() if os.path.exists(os.path.join(out_dir, 'PREFIX')) else 'session'
            path = os.path.join(out_dir, f'{name}-{counter[0]}.bin')
        record = open(path, 'wb')
        server = socket.create_connection(('127.0.0.1', target_port))
        threading.Thread(target=pump, args=(client, server, record), daemon=True).start()
        threading.Thread(target=pump, args=(server, client, None), daemon=True).start()
serve()
