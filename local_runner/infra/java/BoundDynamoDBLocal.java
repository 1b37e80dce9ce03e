import java.lang.reflect.Field;
import java.util.Arrays;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * Starts DynamoDB Local listening on one address only.
 *
 * <p>The jar's own main builds a Jetty server on a port with no host, which binds every
 * interface, and has no option to choose one. This builds the same server through the jar's
 * own classes, sets the host on its connector, then starts it. Usage: BoundDynamoDBLocal HOST
 * [DynamoDB Local's own options]. Telemetry is never configured, so none is sent.
 *
 * <p>Exit codes: 3 when this jar's server cannot be bound (its classes changed): the caller may
 * fall back to the jar's own main; 4 when the server did not start (port taken, bad options).
 */
public final class BoundDynamoDBLocal {
    static final int CANNOT_BIND = 3;
    static final int DID_NOT_START = 4;

    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: BoundDynamoDBLocal HOST [DynamoDB Local options]");
            System.exit(DID_NOT_START);
        }
        String host = args[0];
        DynamoDBProxyServer proxy;
        try {
            proxy = ServerRunner.createServerFromCommandLineArgs(
                    Arrays.copyOfRange(args, 1, args.length));
        } catch (Exception | LinkageError e) {
            System.err.println("DynamoDB Local refused its options: " + e);
            System.exit(DID_NOT_START);
            return;
        }
        try {
            Field field = DynamoDBProxyServer.class.getDeclaredField("server");
            field.setAccessible(true);
            Connector[] connectors = ((Server) field.get(proxy)).getConnectors();
            if (connectors.length == 0) {
                throw new IllegalStateException("the server has no connector");
            }
            for (Connector connector : connectors) {
                ((ServerConnector) connector).setHost(host);
            }
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            System.err.println("cannot bind DynamoDB Local to " + host + ": " + e);
            System.exit(CANNOT_BIND);
            return;
        }
        try {
            proxy.safeStart();
        } catch (Exception e) {
            System.err.println("DynamoDB Local did not start on " + host + ": " + e);
            System.exit(DID_NOT_START);
        }
        System.out.println("DynamoDB Local listening on " + host);
    }
}
